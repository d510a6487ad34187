"""``ember.classical``: the classical vision and learning the lectures build deep learning on.

Image processing (NumPy arrays ``(..., H, W)``; filters also on Ember tensors):

- :mod:`~ember.classical.filters`: mean, median, Gaussian (separable), Sobel/Prewitt,
  Laplacian, unsharp masking, image gradients, the convolution theorem, fixed conv layers.
- :mod:`~ember.classical.borders`: the border modes, with ``scipy.ndimage``'s names.
- :mod:`~ember.classical.pyramids`: Gaussian and Laplacian pyramids.
- :mod:`~ember.classical.geometry`: bilinear sampling and resizing, homography by DLT,
  warping, Moving Least Squares deformation.
- :mod:`~ember.classical.features`: HOG (equal to scikit-image's), HOG pyramids, template
  responses, sliding windows.

Learning with scikit-learn's ``fit`` / ``predict`` / ``score``:

- :mod:`~ember.classical.neighbors`: nearest neighbour and kNN (L1/L2).
- :mod:`~ember.classical.linear`: linear classifier (SVM or softmax loss, SGD on Ember) and
  its class templates, perceptron, ridge and polynomial regression.
- :mod:`~ember.classical.preprocessing`: feature standardization.
- :mod:`~ember.classical.model_selection`: k-fold cross-validation, validation curves.
"""
