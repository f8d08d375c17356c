"""Reading faceswap's own files: Phaze-A models (.keras), state files, GUI presets and train.ini."""

from .archive import FaceswapFileError, KerasArchive, KerasLayer, read_keras
from .importer import example_model, import_faceswap

__all__ = ["FaceswapFileError", "KerasArchive", "KerasLayer", "example_model", "import_faceswap", "read_keras"]
