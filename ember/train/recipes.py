"""Training recipes: the default configuration of ``ember train`` and the builders that turn a
configuration into a model, an optimizer and a learning-rate schedule.

The main job (``ember train`` with no arguments) is LeNet-5 on the 5,000 bundled MNIST
digits, split 4,000 / 500 / 500 (train / validation / test; ``ember.train.data``):

==================  ==========================================================================
model               ``lenet5`` with ``padded=True`` (conv1 pads by 2, so 28x28 inputs give
                    the lecture's 28 -> 14 -> 10 -> 5 chain; 61,706 parameters)
optimizer           SGD, momentum 0.9, weight decay 5e-4, batch 64
schedule            1cycle (``OneCycleLR``, stepped per batch): the learning rate warms up
                    from 0.004 to 0.1 over the first 30% of the steps, then anneals (cosine)
                    to 4e-7; the momentum cycles inversely between 0.95 and 0.85
augmentation        ``basic``: every image is shifted by up to 2 pixels each way (a random
                    crop with zero padding; 2 pixels per 28 of image side, so 1 on 8x8 digits)
epochs              15
==================  ==========================================================================

Lecture 003's advice ("经验": mini-batch SGD + momentum + a decaying learning rate) with a
1cycle schedule. The recipe was chosen with a PyTorch run of the same network on the same
split, which reaches 97.2-97.6% test accuracy in 15 epochs (97.6% with shifted images);
``scripts/compare_main_job_with_torch.py`` reruns both.
"""
from dataclasses import asdict, dataclass, fields

import ember

__all__ = ["Recipe", "MAIN_JOB", "OPTIMIZERS", "SCHEDULES", "ADVERSARIAL", "DEFAULT_LR",
           "ModelError", "RecipeError", "build_model", "build_optimizer", "build_scheduler",
           "build_attack", "model_names"]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
ADVERSARIAL = ("none", "fgsm", "pgd")
SCHEDULES = ("none", "step", "cosine", "onecycle", "plateau")
# the learning rate when --lr is not given (for onecycle: the peak of the cycle)
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3}


class ModelError(RuntimeError):
    """The model cannot be built for this data (unknown name, wrong input size); one line."""


class RecipeError(ValueError):
    """A recipe value out of range (``epochs=0``, a negative learning rate, ...); one line
    that starts with the name of the offending ``field`` (None if no single field is)."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


@dataclass
class Recipe:
    """Everything that defines a training run (stored as ``config.json`` and in checkpoints).

    ``model=None`` lets the task choose for the data (classification: ``lenet5`` for 28x28
    and 32x32 images, ``mlp`` for other sizes such as the 8x8 ``digits``); the run's
    ``config.json`` records the model that was built.

    ``adversarial`` (``"fgsm"`` or ``"pgd"``; ``"none"`` by default) replaces the first
    ``adversarial_fraction`` of every (shuffled) training batch by adversarial examples of
    radius ``epsilon`` in pixel values (L-inf; ``ember.interpret.AdversarialTraining``, PGD
    with ``attack_steps`` steps from a random start), and the run's report adds the test
    accuracy under the same attack to the clean one. Half of each batch by default (Kurakin
    et al. 2017): LeNet-5 trained on PGD examples only (fraction 1, Madry et al.) at epsilon
    0.2 with the main job's recipe stayed at chance for 6 epochs, with half it learns."""
    task: str = "classification"
    model: str = None
    dataset: str = "mnist-sample"
    data_root: str = None
    epochs: int = 15
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = None               # None: DEFAULT_LR of the optimizer (for onecycle: the peak)
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    augment: str = "basic"
    val_split: float = 0.1
    patience: int = 0              # early stopping: epochs without a lower val loss (0: off)
    test_fraction: float = 0.1
    split_seed: int = 0
    seed: int = 0
    adversarial: str = "none"      # adversarial training: "none", "fgsm" or "pgd"
    epsilon: float = 0.1           # its L-inf radius in pixel values (images scaled to [0, 1])
    attack_steps: int = 10         # PGD steps
    adversarial_fraction: float = 0.5   # the share of each batch replaced

    def to_dict(self):
        return asdict(self)

    def validate(self):
        """Raise a one-line ``RecipeError`` for a value no run can use, and fill in the
        optimizer's default learning rate when ``lr`` is None; returns ``self``."""
        if self.optimizer not in OPTIMIZERS:
            raise RecipeError(f"optimizer {self.optimizer!r} is unknown; choose one of "
                              f"{', '.join(OPTIMIZERS)}", "optimizer")
        if self.schedule not in SCHEDULES:
            raise RecipeError(f"schedule {self.schedule!r} is unknown; choose one of "
                              f"{', '.join(SCHEDULES)}", "schedule")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.optimizer]
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise RecipeError(f"{name} must be at least 1, got {getattr(self, name)}", name)
        if self.patience < 0:
            raise RecipeError(f"patience must be non-negative, got {self.patience}", "patience")
        if not self.lr > 0:
            raise RecipeError(f"lr must be positive, got {self.lr}", "lr")
        if not 0.0 <= self.val_split < 1.0:
            raise RecipeError(f"val_split must lie in [0, 1), got {self.val_split}", "val_split")
        if self.adversarial not in ADVERSARIAL:
            raise RecipeError(f"adversarial {self.adversarial!r} is unknown; choose one of "
                              f"{', '.join(ADVERSARIAL)}", "adversarial")
        if self.adversarial != "none" and self.task != "classification":
            raise RecipeError(f"adversarial training is for classification, not for the "
                              f"{self.task} task", "adversarial")
        if not (isinstance(self.epsilon, (int, float)) and 0 < self.epsilon <= 1):
            raise RecipeError(f"epsilon must lie in (0, 1] (pixel values), got {self.epsilon}",
                              "epsilon")
        if self.attack_steps < 1:
            raise RecipeError(f"attack_steps must be at least 1, got {self.attack_steps}",
                              "attack_steps")
        if not (isinstance(self.adversarial_fraction, (int, float))
                and 0 < self.adversarial_fraction <= 1):
            raise RecipeError(f"adversarial_fraction must lie in (0, 1], got "
                              f"{self.adversarial_fraction}", "adversarial_fraction")
        return self

    @classmethod
    def from_dict(cls, config):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in config.items() if k in names})


MAIN_JOB = Recipe(model="lenet5", lr=DEFAULT_LR["sgd"])


def model_names():
    """The names ``build_model`` accepts: ``mlp`` and every classifier of
    ``ember.vision.models`` (not the segmentation models of its ``segmentation`` package)."""
    from ember.vision import models
    return ["mlp"] + models.list_models(models)


def _mlp(num_classes, channels, size, hidden=(256, 128)):
    from ember import nn
    layers, width = [nn.Flatten()], channels * size[0] * size[1]
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def _first_conv_channels(model):
    from ember import nn
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            return module.in_channels if isinstance(module, nn.Conv2d) else None
    return None


def build_model(name, num_classes, channels, size):
    """The model ``name`` for ``channels`` x ``size[0]`` x ``size[1]`` images and
    ``num_classes`` classes, and the number of input channels it expects (grey data is fed
    to a 3-channel model as three equal channels).

    ``mlp``: Flatten -> 256 -> ReLU -> 128 -> ReLU -> classes. ``lenet5``: ``padded=True``
    for 28x28 images, the original 32x32 network otherwise. Other names come from
    ``ember.vision.models`` (with ``in_channels`` when the builder takes it). ``num_classes=None``
    keeps the model's own default (1,000 for the torchvision models, 10 for mlp and lenet5).
    A trial forward pass on a zero batch checks that the model accepts the images; if not,
    ``ModelError``."""
    from ember.vision import models
    h, w = size
    classes = {} if num_classes is None else {"num_classes": num_classes}
    if num_classes is None and name in ("mlp", "lenet5"):
        num_classes = 10
    if name == "mlp":
        model = _mlp(num_classes, channels, size)
    elif name == "lenet5":
        if (h, w) not in ((28, 28), (32, 32)):
            raise ModelError(f"model lenet5 expects 28x28 (padded) or 32x32 images, the data "
                             f"has {h}x{w}")
        model = models.lenet5(num_classes=num_classes, padded=(h == 28), in_channels=channels)
    elif name in models.list_models(models):
        builder = getattr(models, name)
        try:
            model = builder(in_channels=channels, **classes)
        except TypeError:                       # the builder has no in_channels argument
            try:
                model = builder(**classes)
            except TypeError as e:
                raise ModelError(f"model {name} cannot be built for {num_classes} classes: "
                                 f"{e}") from None
    else:
        raise ModelError(f"unknown model {name!r}; choose mlp or one of "
                         f"{', '.join(models.list_models(models))}")
    wanted = _first_conv_channels(model) or channels
    if wanted not in (channels, 3) or (wanted == 3 and channels not in (1, 3)):
        raise ModelError(f"model {name} expects {wanted}-channel images, the data has {channels}")
    model.eval()
    try:
        with ember.no_grad():
            out = model(ember.zeros(2, wanted, h, w))
    except (ValueError, RuntimeError, IndexError) as e:
        raise ModelError(f"model {name} does not accept {wanted}x{h}x{w} images: "
                         f"{str(e).splitlines()[0]}") from None
    if out.ndim != 2 or out.shape[0] != 2 or (num_classes is not None and out.shape[1] != num_classes):
        raise ModelError(f"model {name} returns shape {tuple(out.shape)[1:]} per image for "
                         f"{wanted}x{h}x{w} inputs; expected ({num_classes},) class scores")
    model.train()
    return model, wanted


def build_optimizer(recipe, parameters):
    """The recipe's optimizer (``sgd``: momentum and weight decay; ``adam``/``adamw``/
    ``rmsprop``: weight decay, plus momentum for rmsprop)."""
    from ember import optim
    if recipe.optimizer == "sgd":
        return optim.SGD(parameters, lr=recipe.lr, momentum=recipe.momentum,
                         weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return optim.Adam(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return optim.AdamW(parameters, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "rmsprop":
        return optim.RMSprop(parameters, lr=recipe.lr, momentum=recipe.momentum,
                             weight_decay=recipe.weight_decay)
    raise ValueError(f"unknown optimizer {recipe.optimizer!r}; choose one of {OPTIMIZERS}")


def build_scheduler(recipe, optimizer, steps_per_epoch):
    """``(scheduler or None, interval)`` for the recipe's schedule:

    - ``none``;
    - ``step``: ``StepLR`` dividing the rate by 10 every third of the epochs (per epoch);
    - ``cosine``: ``CosineAnnealingLR`` from ``lr`` to 0 over all steps (per step);
    - ``onecycle``: ``OneCycleLR`` peaking at ``lr`` (per step);
    - ``plateau``: ``ReduceLROnPlateau`` dividing by 10 after 2 epochs without a lower
      validation loss (per epoch).
    """
    from ember.optim import lr_scheduler
    total = recipe.epochs * steps_per_epoch
    if recipe.schedule == "none":
        return None, "epoch"
    if recipe.schedule == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, recipe.epochs // 3)), "epoch"
    if recipe.schedule == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total), "step"
    if recipe.schedule == "onecycle":
        return lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total), "step"
    if recipe.schedule == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.1, patience=2), "epoch"
    raise ValueError(f"unknown schedule {recipe.schedule!r}; choose one of {SCHEDULES}")


def build_attack(recipe, loss_fn, preprocessing, evaluation=False):
    """The batch transform of adversarial training (``ember.interpret.AdversarialTraining``)
    for the recipe's ``adversarial`` / ``epsilon`` / ``attack_steps`` /
    ``adversarial_fraction``, attacking pixel values of images normalised by the
    ``preprocessing``'s mean and std; None for ``"none"``. ``evaluation=True``: the same
    attack on whole batches, for the robust test accuracy."""
    if recipe.adversarial == "none":
        return None
    from ember.interpret.adversarial import AdversarialTraining
    return AdversarialTraining(recipe.adversarial, recipe.epsilon, steps=recipe.attack_steps,
                               fraction=1.0 if evaluation else recipe.adversarial_fraction,
                               loss_fn=loss_fn, mean=preprocessing["mean"],
                               std=preprocessing["std"])
