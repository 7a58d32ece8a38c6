"""mongo-promote: promote a MongoDB database from staging to production, safely."""

__version__ = "0.1.0"
