"""Utilities on parameters and gradients (torch.nn.utils): gradient clipping and flattening,
parametrizations (``parametrize``; weight and spectral normalization in
``parametrizations``), and padded and packed sequences (``rnn``)."""
from ember.nn.utils import parametrizations, parametrize, rnn  # noqa: F401
from ember.nn.utils.clip_grad import (clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_,
                                      get_total_norm)
from ember.nn.utils.convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters"]
