"""pykit: a development kit for TensorRT custom-layer plugins.

The pipeline, one module each: spec -> registry -> (surgeon) -> precision -> backends -> validate
-> report. Importing pykit is cheap: heavy modules load when used.
"""
__version__ = "0.1.0"
