"""``ember.vision.models.segmentation`` (``torchvision.models.segmentation``): networks that
give a class score for every pixel, ``(N, C, H, W) -> (N, num_classes, H, W)`` (lectures 003
and 004 on dense prediction; inventory E8, B22-B25, D12, D13, D24).

torchvision's models, with its names, arguments, ``state_dict`` keys and parameter counts
(they return ``{"out": scores, "aux": scores}``): ``fcn_resnet50``, ``fcn_resnet101``,
``deeplabv3_resnet50``, ``deeplabv3_resnet101``.

The lectures' own (they return the score tensor): ``unet`` (004's U-Net: 2x2 max-pool,
2x2 up-conv, 3x3 convs, 1x1 output, copy and crop; ``padded=True`` keeps sizes), ``fcn32s``,
``fcn16s``, ``fcn8s`` (FCN on VGG-16 with transposed convolutions initialized to bilinear
upsampling) and ``segnet`` (a decoder that unpools with the encoder's max indices). Their
widths are constructor arguments, so the same classes make the small networks that train on
a CPU (``ember train --task segmentation`` uses them; see ``ember.train.tasks.segmentation``).
"""
from ember.vision.models.segmentation.deeplabv3 import (ASPP, ASPPConv, ASPPPooling,
                                                        DeepLabHead, DeepLabV3,
                                                        deeplabv3_resnet50, deeplabv3_resnet101)
from ember.vision.models.segmentation.fcn import FCN, FCNHead, fcn_resnet50, fcn_resnet101
from ember.vision.models.segmentation.fcn_vgg import (FCNVGG16, bilinear_upsampling_weight,
                                                      fcn8s, fcn16s, fcn32s)
from ember.vision.models.segmentation.segnet import SegNet, segnet
from ember.vision.models.segmentation.unet import UNet, unet

# the builders, by name (ember.vision.models lists them with the classifiers)
BUILDERS = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
            "unet", "fcn32s", "fcn16s", "fcn8s", "segnet")

__all__ = ["FCN", "FCNHead", "DeepLabV3", "DeepLabHead", "ASPP", "ASPPConv", "ASPPPooling",
           "FCNVGG16", "SegNet", "UNet", "bilinear_upsampling_weight", *BUILDERS]
