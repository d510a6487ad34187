"""``DataParallel`` and ``data_parallel`` (``torch.nn.parallel.data_parallel``) on the CPU."""
from ember.nn.modules.module import Module

__all__ = ["DataParallel", "data_parallel"]


class DataParallel(Module):
    """Wraps ``module`` and calls it as it is: on a machine without GPUs torch's
    ``DataParallel`` does the same (it ignores ``device_ids``, ``output_device`` and ``dim``,
    and its ``device_ids`` is ``[]``).

    The wrapped module is ``self.module``, so ``state_dict`` keys start with ``module.``
    (``nn.modules.utils.consume_prefix_in_state_dict_if_present`` removes the prefix).
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: module must be an nn.Module, got "
                            f"{type(module).__name__}")
        self.module = module
        self.device_ids = []

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0,
                  module_kwargs=None):
    """torch's functional form, which needs GPUs: without them torch raises
    ``RuntimeError('device type could not be determined')``, and so does Ember (call
    ``module(*inputs)`` instead, as programs do when ``input.is_cuda`` is false)."""
    raise RuntimeError("data_parallel: device type could not be determined (it splits a batch "
                       "across GPUs, and Ember runs on the CPU); call module(*inputs) instead")
