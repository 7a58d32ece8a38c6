"""Backups on disk: mongodump's directory layout with our manifest, mongodump archives, age encryption."""
