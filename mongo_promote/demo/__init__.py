"""The demo: the bundled Meeshy plan, its synthetic data generator, and the demo's flow (showcase)."""
