"""``Embedding`` (``torch.nn.Embedding``): a lookup table of learned vectors.

``Embedding(num_embeddings, embedding_dim)`` maps integer indices of any shape ``(*)`` to
``(*, embedding_dim)``, row ``i`` of ``weight`` for index ``i`` (lecture 004 "Token
Embedding", inventory B31). The gradient scatters back into the rows that were looked up.
"""
import ember
from ember.autograd.grad_mode import no_grad
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.arguments import integer_arguments
from ember.nn.modules.module import Module
from ember.nn.parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``.

    Parameters: ``weight (num_embeddings, embedding_dim)``, initialized ``N(0, 1)``; the row
    ``padding_idx`` (if given) is zeroed and receives no gradient. ``max_norm`` renormalizes
    looked-up rows in place to norm ``<= max_norm`` (``norm_type``-norm);
    ``scale_grad_by_freq`` divides each row's gradient by its count in the mini-batch.
    ``sparse`` is passed to ``F.embedding``.
    """

    @integer_arguments(counts=("num_embeddings", "embedding_dim"))
    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
                 norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None,
                 _freeze=False, device=None, dtype=None):
        super().__init__()
        ember.device(device or "cpu")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise AssertionError(f"Embedding: padding_idx must be within num_embeddings "
                                     f"({num_embeddings}), got {padding_idx}")
            if padding_idx < 0:
                padding_idx += num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if _weight is None:
            self.weight = Parameter(ember.empty(num_embeddings, embedding_dim, dtype=dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError(f"Embedding: shape of weight {tuple(_weight.shape)} does not "
                                     f"match (num_embeddings, embedding_dim) = "
                                     f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        self.sparse = sparse

    def reset_parameters(self):
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self):
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self):
        s = "{num_embeddings}, {embedding_dim}"
        if self.padding_idx is not None:
            s += ", padding_idx={padding_idx}"
        if self.max_norm is not None:
            s += ", max_norm={max_norm}"
        if self.norm_type != 2:
            s += ", norm_type={norm_type}"
        if self.scale_grad_by_freq is not False:
            s += ", scale_grad_by_freq={scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s.format(**self.__dict__)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None,
                        norm_type=2.0, scale_grad_by_freq=False, sparse=False):
        """An Embedding whose weight is ``embeddings`` (2-D, shared storage); ``freeze`` sets
        ``weight.requires_grad = False``. The ``padding_idx`` row is kept as given."""
        if embeddings.dim() != 2:
            raise AssertionError(f"Embedding.from_pretrained: embeddings are expected to be "
                                 f"2-dimensional, got shape {tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        return cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, _freeze=freeze,
                   padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
