"""Flatten parameters into one vector and back (torch.nn.utils.parameters_to_vector)."""
import ember
from ember._tensor import Tensor
from ember.autograd.grad_mode import no_grad

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """Concatenate the flattened parameters into one vector: ``[p_1.view(-1), …, p_n.view(-1)]``.

    Args:
        parameters (iterable of Tensors): e.g. ``model.parameters()``.

    Returns:
        A 1-D Tensor of length ``Σ p.numel()``. It is differentiable: gradients flow back to
        the parameters.
    """
    params = list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters_to_vector: expected Tensors, but item {i} is a "
                            f"{type(p).__name__}")
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return ember.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy the slices of a 1-D ``vec`` into ``parameters`` (inverse of ``parameters_to_vector``).

    As in torch, each parameter's data becomes a view of its slice of ``vec`` (``param.data =
    vec[a:b].view_as(param).data``): no copy, and not recorded by autograd.

    Args:
        vec (Tensor): a 1-D tensor of length ``Σ p.numel()``.
        parameters (iterable of Tensors): the parameters to overwrite.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected vec to be a Tensor, got "
                        f"{type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.dim() != 1 or vec.numel() != total:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector of {total} elements (the "
                         f"parameters' total size), got shape {tuple(vec.shape)}")
    pointer = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.data = vec[pointer:pointer + n].view_as(p).data
            pointer += n
