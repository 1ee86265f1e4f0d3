"""caffebatch: deploy trained Caffe models and score them in batch.

Importing the package is cheap: heavy pieces (ONNX Runtime, botocore, FastAPI, Ray) load
only when the module that needs them is imported.
"""

__version__ = "0.1.0"
