"""``ember.classical``: the classical vision and learning the lectures build deep learning on.

- :mod:`~ember.classical.filters`: mean/median/Gaussian/Sobel/Laplacian filters, image
  gradients, the convolution theorem (NumPy arrays and differentiable Ember tensors).
- :mod:`~ember.classical.borders`: the border modes (``scipy.ndimage``'s names).
"""
