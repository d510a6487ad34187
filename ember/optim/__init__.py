"""Optimizers and learning-rate schedulers (torch.optim).

The lectures' rule of thumb (lecture 003 "经验"): mini-batch SGD + momentum + a step-wise
decaying learning rate; other rules such as AdamW often do better on some problems::

    opt = ember.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = ember.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(90):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
        sched.step()
"""
from ember.optim import lr_scheduler
from ember.optim.adadelta import Adadelta
from ember.optim.adagrad import Adagrad
from ember.optim.adam import Adam, AdamW
from ember.optim.lbfgs import LBFGS
from ember.optim.optimizer import Optimizer
from ember.optim.rmsprop import RMSprop
from ember.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "LBFGS",
           "lr_scheduler"]
