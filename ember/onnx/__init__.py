"""``ember.onnx``: exchange models with the ONNX ecosystem.

* :func:`export` writes an Ember model as an ONNX file (``torch.onnx.export``'s manner), by
  tracing the primitives its forward runs; ONNX Runtime can then serve it.
* :func:`load` reads an ONNX file (e.g. one written by ``torch.onnx.export``) into an Ember
  ``nn.Module`` that runs the graph with Ember's ops and can be trained further.

Both need the ``onnx`` package (``pip install 'ember[onnx]'``, which also brings
``onnxruntime`` to run and verify exported files); it is imported only when they are called.
"""
from ember.onnx.export_ops import ExportError
from ember.onnx.exporter import export
from ember.onnx.importer import OnnxLoadError, OnnxModule, load

__all__ = ["export", "load", "OnnxModule", "ExportError", "OnnxLoadError"]
