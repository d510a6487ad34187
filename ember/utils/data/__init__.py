"""``ember.utils.data``: datasets, samplers and the ``DataLoader`` (torch.utils.data's API)."""
from ember.utils.data.collate import default_collate, default_convert
from ember.utils.data.dataloader import DataLoader
from ember.utils.data.dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                                      TensorDataset, random_split)
from ember.utils.data.sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                                      SubsetRandomSampler, WeightedRandomSampler)
from ember.utils.data.worker import WorkerInfo, fetch_rng, get_worker_info

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ChainDataset", "ConcatDataset", "Subset",
           "random_split", "default_collate", "default_convert", "DataLoader", "Sampler",
           "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler",
           "BatchSampler", "WorkerInfo", "get_worker_info", "fetch_rng"]
