"""Conversion of dlib's model files to ONNX graphs, written from dlib's public source.

* :mod:`facewarden.convert.dlib_format`: a parser of dlib's serialization
  format for the two networks facewarden uses (the ResNet embedder and the
  MMOD detector); anything it does not understand is refused.
* :mod:`facewarden.convert.to_onnx`: rebuilds a parsed network as an ONNX
  graph and caches it in the user's cache folder.

Nothing here needs torch, and nothing is downloaded: the converted models are
computed from the weights of the installed ``face-recognition-models`` wheel.
"""

from facewarden.convert.dlib_format import parse_network, read_network
from facewarden.convert.dlib_layers import DlibNetwork

__all__ = ["DlibNetwork", "parse_network", "read_network"]
