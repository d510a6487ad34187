"""``ember.vision.models`` (``torchvision.models``): the classic networks of the lectures.

torchvision's names, constructor arguments, module structure and ``state_dict`` keys —
``alexnet``, ``vgg11..19(_bn)``, ``resnet18..152``, ``resnext50_32x4d``,
``wide_resnet50_2``, ``googlenet``, ``densenet121/161/169/201``, ``mobilenet_v2``, the
vision transformers ``vit_b_16``, ``vit_b_32``, ``vit_l_16``, ``vit_l_32``, ``vit_h_14`` and
``swin_t``, ``swin_s``, ``swin_b`` — so a ``state_dict`` converted from torchvision loads as
it is. Ember never downloads weights: every builder takes ``weights=None`` and raises for
anything else.

The lectures' own networks: ``lenet5`` (004's ``Net``), ``alexnet_paper`` (single-tower
AlexNet with LRN, 001/003), ``mobilenet_v1`` (003's tables), the CIFAR ``resnet20/32/56``,
``sample_cnn`` (003 "样例卷积网络") and ``one_vs_seven`` (000). Small sequence models for 28x28
digits: ``vit_mnist``, ``swin_mnist`` and ``lstm_mnist`` (a row-by-row LSTM, 004 "RNNs").

Dense prediction (``ember.vision.models.segmentation``, torchvision's
``models.segmentation``): ``fcn_resnet50/101``, ``deeplabv3_resnet50/101`` and the lectures'
``unet``, ``fcn32s/16s/8s`` and ``segnet``, listed and built by name here too.
Detection and instance segmentation: ``ember.vision.models.detection`` (Faster / Mask R-CNN,
YOLO, classification with localization).

Transfer learning (003 "微调"): ``freeze``, ``unfreeze``, ``replace_head``,
``create_feature_extractor``, ``IntermediateLayerGetter``; ``get_model`` / ``list_models``
build by name.
"""
from ember.vision.models._utils import (IntermediateLayerGetter, create_feature_extractor,
                                        default_input_size, freeze, get_graph_node_names,
                                        get_model, list_models, replace_head, unfreeze)
from ember.vision.models.alexnet import AlexNet, AlexNetPaper, alexnet, alexnet_paper
from ember.vision.models.densenet import (DenseNet, densenet121, densenet161, densenet169,
                                          densenet201)
from ember.vision.models.googlenet import GoogLeNet, GoogLeNetOutputs, googlenet
from ember.vision.models.lecture import (OneVsSevenNet, SampleCNN, one_vs_seven,
                                         sample_cnn)
from ember.vision.models.lenet import LeNet5, lenet5
from ember.vision.models.mobilenet import (MobileNetV1, MobileNetV2, mobilenet_v1,
                                           mobilenet_v2)
from ember.vision.models.recurrent import RowLSTMClassifier, lstm_mnist
from ember.vision.models.resnet import (BasicBlock, Bottleneck, CifarResNet, ResNet,
                                        resnet18, resnet20, resnet32, resnet34, resnet50,
                                        resnet56, resnet101, resnet152, resnext50_32x4d,
                                        wide_resnet50_2)
from ember.vision.models.swin import SwinTransformer, swin_b, swin_mnist, swin_s, swin_t
from ember.vision.models.vgg import (VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn,
                                     vgg19, vgg19_bn)
from ember.vision.models import segmentation
from ember.vision.models.segmentation import (deeplabv3_resnet50, deeplabv3_resnet101, fcn8s,
                                              fcn16s, fcn32s, fcn_resnet50, fcn_resnet101,
                                              segnet, unet)
from ember.vision.models.vit import (VisionTransformer, vit_b_16, vit_b_32, vit_h_14, vit_l_16,
                                     vit_l_32, vit_mnist)
from ember.vision.models import detection  # noqa: E402  (torchvision.models.detection)

_BUILDERS = (
    "alexnet", "alexnet_paper",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d",
    "wide_resnet50_2", "resnet20", "resnet32", "resnet56",
    "googlenet", "densenet121", "densenet161", "densenet169", "densenet201",
    "mobilenet_v1", "mobilenet_v2",
    "lenet5", "sample_cnn", "one_vs_seven",
    *segmentation.BUILDERS,
    "vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32", "vit_h_14", "vit_mnist",
    "swin_t", "swin_s", "swin_b", "swin_mnist", "lstm_mnist",
)

__all__ = [
    "AlexNet", "AlexNetPaper", "VGG", "ResNet", "BasicBlock", "Bottleneck", "CifarResNet",
    "GoogLeNet", "GoogLeNetOutputs", "DenseNet", "MobileNetV1", "MobileNetV2", "LeNet5",
    "SampleCNN", "OneVsSevenNet", "VisionTransformer", "SwinTransformer", "RowLSTMClassifier",
    "IntermediateLayerGetter", "create_feature_extractor", "get_graph_node_names", "freeze",
    "unfreeze", "replace_head", "get_model", "list_models", "default_input_size",
    "segmentation", *_BUILDERS,
]
