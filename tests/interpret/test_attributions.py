"""ember.interpret's attributions against Captum 0.9 on the same float64 weights (LeNet-5 and a
tiny ResNet whose in-place ReLU runs twice), plus the checks Captum cannot make: CAM against
its formula and Grad-CAM, the completeness of integrated gradients, the model-randomization
test, hooks removed after every call, and one-line errors for bad input.

In float64 both libraries compute the same gradients up to summation order (about 1e-15 of
the values); where Captum rounds a quantity to float32 the test says where and allows that
rounding."""
import numpy as np
import pytest
import torch

import ember
import ember.interpret as interpret
from tests.interpret.models import hook_counts, lenet, tiny_resnet, twins

captum_attr = pytest.importorskip("captum.attr")
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")
F64 = 1e-12          # float64: differences of summation order, relative to the largest value


def close(actual, expected, rtol=F64):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape
    scale = max(float(np.abs(expected).max()), 1e-300)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale)


@pytest.fixture(scope="module")
def lenets():
    return twins(lenet)


@pytest.fixture(scope="module")
def resnets():
    return twins(tiny_resnet, seed=1)


def digit_batch(n=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 1, 28, 28))


def photo_batch(n=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3, 12, 12))


def torch_input(x):
    return torch.from_numpy(x.copy()).requires_grad_()


CASES = [("lenets", digit_batch, [1, 4, 7]), ("resnets", photo_batch, [0, 3])]


@pytest.mark.parametrize("which,batch,target", CASES)
@pytest.mark.parametrize("ours,theirs", [
    (interpret.saliency, captum_attr.Saliency),
    (interpret.input_x_gradient, captum_attr.InputXGradient),
    (interpret.guided_backprop, captum_attr.GuidedBackprop),
    (interpret.deconvolution, captum_attr.Deconvolution),
])
def test_gradient_methods_equal_captum(request, which, batch, target, ours, theirs):
    # inventory G7
    em, tm = request.getfixturevalue(which)
    x = batch()
    expected = theirs(tm).attribute(torch_input(x), target=target).detach().numpy()
    close(ours(em, x, target).numpy(), expected)


def test_signed_saliency_and_predicted_target(lenets):
    em, tm = lenets
    x = digit_batch()
    predicted = tm(torch.from_numpy(x)).argmax(1)
    expected = captum_attr.Saliency(tm).attribute(torch_input(x), target=predicted, abs=False)
    close(interpret.saliency(em, x, abs=False).numpy(), expected.detach().numpy())
    assert list(interpret.predicted_classes(em, x)) == predicted.tolist()


@pytest.mark.parametrize("method,steps", [("gausslegendre", 50), ("riemann_left", 20),
                                          ("riemann_right", 20), ("riemann_middle", 20),
                                          ("riemann_trapezoid", 20)])
def test_integrated_gradients_equal_captum(resnets, method, steps):
    em, tm = resnets
    x, base = photo_batch(), photo_batch(seed=5) * 0.1
    ours = interpret.integrated_gradients(em, x, [2, 4], baselines=base, steps=steps,
                                          method=method, batch_size=7).numpy()
    theirs = captum_attr.IntegratedGradients(tm).attribute(
        torch_input(x), baselines=torch.from_numpy(base), target=[2, 4], n_steps=steps,
        method=method).detach().numpy()
    if method == "riemann_trapezoid":
        # Captum's trapezoid weights are 1/n (summing to (n-1)/n); the rule's are 1/(n-1)
        theirs = theirs * steps / (steps - 1)
    # Captum multiplies by its step weights as float32 (torch.tensor(step_sizes).float()):
    # each term carries a relative rounding of 2^-24
    close(ours, theirs, rtol=2.0 ** -23)


def test_integrated_gradients_completeness():
    # sum of attributions = S_c(x) - S_c(x'): exact for a linear model whatever the rule
    model = ember.nn.Sequential(ember.nn.Flatten(), ember.nn.Linear(12, 3)).double()
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2))
    for method in ("gausslegendre", "riemann_left", "riemann_trapezoid"):
        _, delta = interpret.integrated_gradients(model, x, 2, baselines=0.5, steps=3,
                                                  method=method, return_delta=True)
        assert np.abs(delta.numpy()).max() < 1e-12


def test_integrated_gradients_error_falls_with_steps(lenets):
    # a ReLU network is piecewise linear: the rule's error falls as the steps grow
    em, _ = lenets
    x = digit_batch(2)
    deltas = [float(np.abs(interpret.integrated_gradients(
        em, x, 3, steps=steps, return_delta=True)[1].numpy()).max()) for steps in (4, 128)]
    with ember.no_grad():
        change = em(ember.from_numpy(x)).numpy()[:, 3] - em(ember.zeros(1, 1, 28, 28,
                                                                        dtype=ember.float64)
                                                            ).numpy()[:, 3]
    assert deltas[1] < deltas[0] and deltas[1] < 0.01 * np.abs(change).min()


def test_noise_tunnel_equals_captum_with_the_same_noise(lenets, monkeypatch):
    # the same seeded noise fed to Captum's NoiseTunnel (its torch.normal replaced by a draw
    # of Ember's generator), so the results are comparable term by term
    em, tm = lenets
    x, samples, stdev = digit_batch(2), 4, 0.3
    drawn = ember.randn(2 * samples, 1, 28, 28, generator=ember.Generator().manual_seed(7),
                        dtype=ember.float64).numpy() * stdev
    from captum.attr._core import noise_tunnel
    monkeypatch.setattr(noise_tunnel.torch, "normal", lambda mean, std: torch.from_numpy(drawn))
    for kind in ("smoothgrad", "smoothgrad_sq", "vargrad"):
        theirs = captum_attr.NoiseTunnel(captum_attr.Saliency(tm)).attribute(
            torch_input(x), nt_type=kind, nt_samples=samples, stdevs=stdev,
            target=[5, 6]).detach().numpy()
        ours = interpret.noise_tunnel(interpret.saliency, em, x, [5, 6], samples=samples,
                                      stdev=stdev, kind=kind,
                                      generator=ember.Generator().manual_seed(7)).numpy()
        close(ours, theirs)
    smooth = interpret.smoothgrad(em, x, [5, 6], samples=samples, stdev=stdev,
                                  generator=ember.Generator().manual_seed(7)).numpy()
    close(smooth, interpret.noise_tunnel(interpret.saliency, em, x, [5, 6], samples=samples,
                                         stdev=stdev,
                                         generator=ember.Generator().manual_seed(7)).numpy())


def test_noise_tunnel_of_integrated_gradients(lenets, monkeypatch):
    em, tm = lenets
    x = digit_batch(1)
    drawn = ember.randn(3, 1, 28, 28, generator=ember.Generator().manual_seed(3),
                        dtype=ember.float64).numpy() * 0.2
    from captum.attr._core import noise_tunnel
    monkeypatch.setattr(noise_tunnel.torch, "normal", lambda mean, std: torch.from_numpy(drawn))
    theirs = captum_attr.NoiseTunnel(captum_attr.IntegratedGradients(tm)).attribute(
        torch_input(x), nt_samples=3, stdevs=0.2, target=2, n_steps=8).detach().numpy()
    ours = interpret.noise_tunnel(interpret.integrated_gradients, em, x, 2, samples=3,
                                  stdev=0.2, generator=ember.Generator().manual_seed(3),
                                  steps=8).numpy()
    close(ours, theirs, rtol=2.0 ** -23)          # Captum's float32 step weights (above)


@pytest.mark.parametrize("window,stride", [(6, 4), ((7, 5), (4, 3)), (28, 1)])
def test_occlusion_equals_captum(lenets, window, stride):
    # inventory G6
    em, tm = lenets
    x = digit_batch(2)
    win = (window, window) if isinstance(window, int) else window
    step = (stride, stride) if isinstance(stride, int) else stride
    baseline = 0.25
    theirs = captum_attr.Occlusion(tm).attribute(
        torch.from_numpy(x), sliding_window_shapes=(1, *win), strides=(1, *step),
        baselines=baseline, target=[3, 8], perturbations_per_eval=5).numpy()
    ours = interpret.occlusion(em, x, [3, 8], window=window, stride=stride, baseline=baseline,
                               batch_size=7).numpy()
    # Captum returns the averaged drops as float32 (``.float()`` in feature_ablation.py)
    close(ours, theirs, rtol=2.0 ** -23)


def test_occlusion_of_rgb_images_and_an_array_baseline(resnets):
    em, tm = resnets
    x = photo_batch()
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    theirs = captum_attr.Occlusion(tm).attribute(
        torch.from_numpy(x), sliding_window_shapes=(3, 4, 4), strides=(3, 2, 2),
        baselines=torch.from_numpy(mean), target=[1, 2], perturbations_per_eval=8).numpy()
    ours = interpret.occlusion(em, x, [1, 2], window=4, stride=2, baseline=mean).numpy()
    close(ours, theirs, rtol=2.0 ** -23)


@pytest.mark.parametrize("which,batch,layer", [("lenets", digit_batch, "conv2"),
                                               ("lenets", digit_batch, "pool1"),
                                               ("resnets", photo_batch, "layer1"),
                                               ("resnets", photo_batch, "layer1.bn2")])
@pytest.mark.parametrize("relu", [True, False])
def test_grad_cam_equals_captum(request, which, batch, layer, relu):
    em, tm = request.getfixturevalue(which)
    x = batch()
    target = [1, 2] if len(x) == 2 else [1, 2, 3]
    raw = captum_attr.LayerGradCam(tm, tm.get_submodule(layer)).attribute(
        torch.from_numpy(x), target=target, relu_attributions=relu)
    close(interpret.grad_cam(em, x, target, layer, relu=relu, upsample=None).numpy(),
          raw.detach().numpy())
    for mode in ("nearest", "bilinear"):
        theirs = captum_attr.LayerAttribution.interpolate(raw, x.shape[2:], mode)
        close(interpret.grad_cam(em, x, target, layer, relu=relu, upsample=mode).numpy(),
              theirs.detach().numpy())


def test_grad_cam_of_a_layer_an_in_place_relu_follows(resnets):
    # layer1.bn1's output is what an in-place ReLU then overwrites: Grad-CAM reads the layer's
    # own output (Captum would read it after the ReLU changed it in place)
    em, tm = resnets
    x = photo_batch()
    saved = []

    def keep(module, args, out):
        saved.append(out)
        return out.clone()
    handle = tm.layer1.bn1.register_forward_hook(keep)
    try:
        scores = tm(torch.from_numpy(x))
        (grad,) = torch.autograd.grad(scores[:, 2].sum(), saved[0])
    finally:
        handle.remove()
    a, g = saved[0].detach().numpy(), grad.numpy()
    expected = np.maximum((g.mean(axis=(2, 3), keepdims=True) * a).sum(axis=1, keepdims=True), 0)
    close(interpret.grad_cam(em, x, 2, "layer1.bn1", upsample=None).numpy(), expected)


@pytest.mark.parametrize("which,batch,layer", [("lenets", digit_batch, "conv2"),
                                               ("resnets", photo_batch, "layer1.conv2")])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_guided_grad_cam_equals_captum(request, which, batch, layer, mode):
    em, tm = request.getfixturevalue(which)
    x = batch()
    target = list(range(len(x)))
    theirs = captum_attr.GuidedGradCam(tm, tm.get_submodule(layer)).attribute(
        torch_input(x), target=target, interpolate_mode=mode).detach().numpy()
    close(interpret.guided_grad_cam(em, x, target, layer, upsample=mode).numpy(), theirs)


def test_cam_is_the_formula_and_grad_cam_times_positions(resnets):
    # inventory G8: M_c = sum_k w_ck A_k; Grad-CAM at the pool's input is M_c / (h w)
    em, _ = resnets
    x = photo_batch()
    with ember.no_grad():
        features = em.layer1(em.pool(em.relu(em.conv1(ember.from_numpy(x))))).numpy()
    weight = em.fc.weight.detach().numpy()
    expected = np.einsum("k,nkhw->nhw", weight[4], features)[:, None]
    close(interpret.cam(em, x, 4, upsample=None).numpy(), expected)
    close(interpret.grad_cam(em, x, 4, "layer1", relu=False, upsample=None).numpy(),
          expected / (features.shape[2] * features.shape[3]))
    predicted = interpret.predicted_classes(em, x)
    close(interpret.cam(em, x, upsample=None).numpy()[:, 0],
          np.einsum("nk,nkhw->nhw", weight[predicted], features))
    assert interpret.cam(em, x, 4).shape == (2, 1, 12, 12)


def test_default_grad_cam_layer_is_the_last_feature_map(lenets, resnets):
    assert interpret.default_cam_layer(lenets[0], digit_batch(1)) == "pool2"
    assert interpret.default_cam_layer(resnets[0], photo_batch(1)) == "layer1"
    x = photo_batch()
    close(interpret.grad_cam(resnets[0], x, 1).numpy(),
          interpret.grad_cam(resnets[0], x, 1, "layer1").numpy())


def test_grad_cam_of_randomized_weights_differs(trained_digits_net, digits):
    # the model-randomization test (Adebayo et al. 2018): a map that does not change when
    # the weights are re-drawn does not explain the trained model
    images = digits["test"][0][:16]
    trained = interpret.grad_cam(trained_digits_net, images, 3, "relu2").numpy()
    from tests.interpret.conftest import DigitsNet
    ember.manual_seed(123)
    randomized = interpret.grad_cam(DigitsNet().eval(), images, 3, "relu2").numpy()
    rank_correlation = [np.corrcoef(np.argsort(np.argsort(a.ravel())),
                                    np.argsort(np.argsort(b.ravel())))[0, 1]
                        for a, b in zip(trained, randomized)]
    assert np.mean(rank_correlation) < 0.5
    assert not np.allclose(trained, randomized)


def test_attributions_keep_the_inputs_dtype_and_accept_tensors(lenets):
    em, _ = lenets
    x = ember.from_numpy(digit_batch(1).astype(np.float32))
    model = lenet(ember).eval()
    for method in (interpret.saliency, interpret.guided_backprop, interpret.input_x_gradient):
        out = method(model, x, 2)
        assert out.dtype == ember.float32 and tuple(out.shape) == (1, 1, 28, 28)


def every_method(model, x, layer):
    return [interpret.saliency(model, x, 1), interpret.input_x_gradient(model, x, 1),
            interpret.integrated_gradients(model, x, 1, steps=4),
            interpret.guided_backprop(model, x, 1), interpret.deconvolution(model, x, 1),
            interpret.smoothgrad(model, x, 1, samples=2),
            interpret.occlusion(model, x, 1, window=6, stride=6),
            interpret.grad_cam(model, x, 1, layer), interpret.guided_grad_cam(model, x, 1, layer),
            interpret.layer_activations(model, x, layer)]


@pytest.mark.parametrize("which,batch,layer", [("lenets", digit_batch, "conv2"),
                                               ("resnets", photo_batch, "layer1")])
def test_a_model_explained_behaves_exactly_as_before(request, which, batch, layer):
    em, _ = request.getfixturevalue(which)
    x = batch(2)
    hooks = hook_counts(em)

    def forward_backward():
        inp = ember.from_numpy(x).requires_grad_()
        out = em(inp)
        out.sum().backward()
        grads = {k: p.grad.numpy().copy() for k, p in em.named_parameters()}
        em.zero_grad()
        return out.detach().numpy(), inp.grad.numpy(), grads

    before = forward_backward()
    every_method(em, x, layer)
    if which == "resnets":
        interpret.cam(em, x, 1)
    assert hook_counts(em) == hooks
    assert all(p.grad is None for p in em.parameters())      # attributions touch no .grad
    after = forward_backward()
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    for key in before[2]:
        np.testing.assert_array_equal(after[2][key], before[2][key])


def test_hooks_are_removed_when_a_method_fails(lenets):
    em, _ = lenets
    hooks = hook_counts(em)
    with pytest.raises(ValueError):
        interpret.grad_cam(em, digit_batch(1), 99, "conv2")
    with pytest.raises(ValueError):
        interpret.guided_backprop(em, np.zeros((1, 1, 20, 20)), 1)
    assert hook_counts(em) == hooks


def test_bad_layer_lists_the_valid_names(lenets):
    em, _ = lenets
    with pytest.raises(ValueError, match=r"^grad_cam: LeNet has no layer 'conv9'; its layers "
                                         r"are: conv1, relu1, pool1, conv2, relu2, pool2, fc1, "
                                         r"relu3, fc2, relu4, fc3$"):
        interpret.grad_cam(em, digit_batch(1), 1, "conv9")
    with pytest.raises(ValueError, match="grad_cam: layer 'fc1' returns shape .*feature map"):
        interpret.grad_cam(em, digit_batch(1), 1, "fc1")


@pytest.mark.parametrize("method", [interpret.saliency, interpret.integrated_gradients,
                                    interpret.guided_backprop, interpret.occlusion,
                                    interpret.grad_cam])
def test_target_out_of_range(lenets, method):
    with pytest.raises(ValueError, match=r"target 10 is out of range for a model with 10 "
                                         r"classes \(0 to 9\)"):
        method(lenets[0], digit_batch(2), [3, 10])


def test_wrong_image_size_or_channels_is_one_line(resnets):
    em, _ = resnets
    with pytest.raises(ValueError) as error:
        interpret.saliency(em, np.zeros((1, 1, 12, 12)), 0)
    message = str(error.value)
    assert message.startswith("saliency: TinyResNet cannot take inputs of shape (1, 1, 12, 12)")
    assert "channel" in message and "\n" not in message
    model = ember.vision.models.lenet5(padded=True).eval()
    with pytest.raises(ValueError, match=r"grad_cam: LeNet5 cannot take inputs of shape "
                                         r"\(1, 1, 32, 32\): .*expected 28x28"):
        interpret.grad_cam(model, np.zeros((1, 1, 32, 32), np.float32), 0)
    with pytest.raises(ValueError, match=r"occlusion: expected a batch of images"):
        interpret.occlusion(em, np.zeros((3, 12, 12)), 0)


def test_cam_needs_a_global_pool(lenets):
    with pytest.raises(ValueError, match=r"^cam: LeNet does not end in a global average pool "
                                         r"followed by a Linear layer .*use grad_cam"):
        interpret.cam(lenets[0], digit_batch(1), 1)


def test_guided_backprop_needs_relu_modules():
    net = ember.nn.Sequential(ember.nn.Flatten(), ember.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="guided_backprop: Sequential has no nn.ReLU module"):
        interpret.guided_backprop(net, np.zeros((1, 4), np.float32), 0)


def test_argument_errors(lenets):
    em, _ = lenets
    x = digit_batch(1)
    with pytest.raises(ValueError, match="integrated_gradients: method must be one of"):
        interpret.integrated_gradients(em, x, 1, method="simpson")
    with pytest.raises(ValueError, match="at least 2 for riemann_trapezoid"):
        interpret.integrated_gradients(em, x, 1, steps=1, method="riemann_trapezoid")
    with pytest.raises(ValueError, match="occlusion: stride .* is larger than the window"):
        interpret.occlusion(em, x, 1, window=4, stride=5)
    with pytest.raises(ValueError, match="occlusion: window .* is larger than the images"):
        interpret.occlusion(em, x, 1, window=30)
    with pytest.raises(ValueError, match="noise_tunnel: kind must be one of"):
        interpret.noise_tunnel(interpret.saliency, em, x, 1, kind="mean")
    with pytest.raises(ValueError, match="got 2 targets for 1 inputs"):
        interpret.saliency(em, x, [1, 2])
    with pytest.raises(TypeError, match="saliency: inputs must be floating point"):
        interpret.saliency(em, x.astype(np.int64), 1)
    with pytest.raises(ValueError, match="grad_cam: upsample must be"):
        interpret.grad_cam(em, x, 1, "conv2", upsample="cubic")


def test_explain_reduces_each_method_to_one_map_per_image(resnets):
    em, _ = resnets
    x = photo_batch()
    for method in interpret.METHODS:
        result = interpret.explain(em, x, method, target=[1, 2], generator=ember.Generator())
        assert result.maps.shape == (2, 12, 12) and list(result.targets) == [1, 2]
        np.testing.assert_allclose(result.probabilities.sum(axis=1), 1.0)
        assert result.signed == (method in ("ig", "occlusion", "cam"))
        assert (result.layer == "layer1") == (method == "gradcam")
    saliency = interpret.saliency(em, x, [1, 2]).numpy().max(axis=1)
    np.testing.assert_array_equal(interpret.explain(em, x, "saliency", [1, 2]).maps, saliency)
    with pytest.raises(ValueError, match="explain: method must be one of saliency, "):
        interpret.explain(em, x, "lime")
    with pytest.raises(ValueError, match="explain: a layer applies to gradcam only, not cam"):
        interpret.explain(em, x, "cam", layer="layer1")
