"""Image transforms (torchvision's ``transforms``): conversions, normalisation, geometry and
colour augmentation for PIL images, NumPy arrays and Tensor images."""
from ember.vision.transforms import functional
from ember.vision.transforms.functional import InterpolationMode
from ember.vision.transforms.transforms import (BatchRandomCrop, CenterCrop, ColorJitter,
                                                Compose, Grayscale, Lambda, Normalize, Pad,
                                                PILToTensor, RandomAffine, RandomApply,
                                                RandomCrop, RandomErasing, RandomHorizontalFlip,
                                                RandomResizedCrop, RandomRotation,
                                                RandomVerticalFlip, Resize, ToPILImage, ToTensor,
                                                Transform)

__all__ = ["functional", "InterpolationMode", "Transform", "Compose", "ToTensor", "PILToTensor",
           "ToPILImage", "Normalize", "Resize", "CenterCrop", "RandomCrop", "BatchRandomCrop",
           "RandomHorizontalFlip",
           "RandomVerticalFlip", "RandomRotation", "RandomAffine", "ColorJitter",
           "RandomResizedCrop", "Grayscale", "Pad", "Lambda", "RandomErasing", "RandomApply"]
