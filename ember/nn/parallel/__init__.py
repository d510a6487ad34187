"""``ember.nn.parallel`` (``torch.nn.parallel``): ``DataParallel`` and ``data_parallel`` as
torch's behave on a machine without GPUs, which Ember always is.

torch's ``DataParallel`` splits each batch across GPUs; with no GPU it keeps the module and
calls it directly, so programs written for several GPUs (pytorch/examples' DCGAN wraps its
networks when ``--ngpu > 1``) run unchanged. Ember's two cores are used inside each operation
instead (``ember.set_num_threads``). ``DistributedDataParallel`` (several processes) is not
here.
"""
from ember.nn.parallel.data_parallel import DataParallel, data_parallel

__all__ = ["DataParallel", "data_parallel"]
