"""Export a model's f and g for logitbounds, checked against the model's own logits.

logitbounds reads a model as f (N×d: what enters the output layer, one row per input) and
g (k×d: the output layer), with logits f @ g.T. This module writes that .npz from a PyTorch
classifier, a Hugging Face causal language model or a fitted scikit-learn MLPClassifier, and
refuses — with ExportError — when f @ g.T does not reproduce the model's own logits to 1e−5
of the largest logit: logits scaled or soft-capped after the output layer, an output layer
other than the one given, a head the function cannot find. A bias of the output layer becomes
a constant coordinate (a column of ones appended to f, the bias appended to g).

Optional (not needed by the tool): numpy, and torch, transformers or scikit-learn for the
models exported. Import it from the scripts folder:

    import sys; sys.path.insert(0, "scripts")
    from export_model import export_classifier, export_causal_lm, export_sklearn_mlp
    export_causal_lm(teacher, input_ids, "teacher.npz")   # input_ids: (batch, seq) tensor

Each function returns the largest relative difference it found (≤ 1e−5).
"""
import numpy as np

TOLERANCE = 1e-5


class ExportError(ValueError):
    """f @ g.T does not give the model's logits, or f and g cannot be found."""


def check(f, g, logits, what, centred=False, tolerance=TOLERANCE):
    """The largest |f g^T − logits| over the largest |logit|; ExportError above `tolerance`.
    With `centred`, both sides are centred per row first (the model gives log-probabilities,
    which equal the logits up to a constant per input)."""
    rebuilt = f @ g.T
    if rebuilt.shape != logits.shape:
        raise ExportError(f"{what}: f @ g.T has shape {rebuilt.shape} but the model's logits {logits.shape}")
    if centred:
        keep = np.all(np.isfinite(logits), axis=1)
        rebuilt, logits = rebuilt[keep], logits[keep]
        rebuilt = rebuilt - rebuilt.mean(axis=1, keepdims=True)
        logits = logits - logits.mean(axis=1, keepdims=True)
    scale = max(float(np.abs(logits).max(initial=0.0)), 1e-300)
    error = float(np.abs(rebuilt - logits).max(initial=0.0)) / scale
    if not np.isfinite(error) or error > tolerance:
        raise ExportError(
            f"{what}: f @ g.T does not reproduce the model's logits (largest difference {error:.2e} of the largest "
            f"logit, tolerance {tolerance:g}). Logits scaled or soft-capped after the output layer, a final "
            f"normalisation after the layer's input, or another output layer break f @ g.T; export what enters the "
            f"layer that produces the logits, and that layer.")
    return error


def save(path, f, g, w=None):
    arrays = {"f": np.ascontiguousarray(f, dtype=np.float64), "g": np.ascontiguousarray(g, dtype=np.float64)}
    if w is not None:
        arrays["w"] = np.asarray(w, dtype=np.float64)
    np.savez_compressed(path, **arrays)


def _with_bias(f, g, bias):
    if bias is None:
        return f, g
    return np.hstack([f, np.ones((f.shape[0], 1))]), np.hstack([g, np.asarray(bias, dtype=np.float64)[:, None]])


def _head_input(model, head, call):
    """Runs `call()` with a hook on `head`: the head's input and output, and call's result."""
    import torch
    captured = {}

    def hook(module, inputs, output):
        captured["f"], captured["out"] = inputs[0].detach(), output.detach()

    handle = head.register_forward_hook(hook)
    try:
        with torch.no_grad():
            result = call()
    finally:
        handle.remove()
    if "f" not in captured:
        raise ExportError("the output layer given was not called by the model's forward pass: pass the final "
                          "nn.Linear that produces the logits")
    return captured["f"], captured["out"], result


def export_classifier(model, head, inputs, path, weights=None):
    """A PyTorch classifier whose logits come from `head` (an nn.Linear, possibly biased):
    f is what enters `head` on `inputs`, g its weight (with the bias as a column). The check
    compares f @ g.T with what model(inputs) returns."""
    import torch
    f, _, out = _head_input(model, head, lambda: model(inputs))
    if not isinstance(out, torch.Tensor):
        raise ExportError("export_classifier: the model's forward pass does not return a tensor of logits")
    f = f.reshape(-1, f.shape[-1]).double().cpu().numpy()
    g = head.weight.detach().double().cpu().numpy()
    bias = None if head.bias is None else head.bias.detach().double().cpu().numpy()
    f, g = _with_bias(f, g, bias)
    logits = out.reshape(-1, out.shape[-1]).double().cpu().numpy()
    error = check(f, g, logits, "export_classifier")
    save(path, f, g, weights)
    return error


def export_causal_lm(model, input_ids, path):
    """A Hugging Face causal LM on `input_ids` (batch, seq): f is what enters the output
    embedding layer (`model.get_output_embeddings()`) at every position, g its weight; the
    check compares f @ g.T with the model's `logits` (which catches soft-capping or scaling
    applied after that layer)."""
    head = model.get_output_embeddings()
    if head is None:
        raise ExportError("export_causal_lm: model.get_output_embeddings() is None; no output layer to export")
    f, _, out = _head_input(model, head, lambda: model(input_ids))
    logits = out.logits if hasattr(out, "logits") else out[0]
    f = f.reshape(-1, f.shape[-1]).double().cpu().numpy()
    g = head.weight.detach().double().cpu().numpy()
    bias = None if getattr(head, "bias", None) is None else head.bias.detach().double().cpu().numpy()
    f, g = _with_bias(f, g, bias)
    error = check(f, g, logits.reshape(-1, logits.shape[-1]).double().cpu().numpy(), "export_causal_lm")
    save(path, f, g)
    return error


def export_sklearn_mlp(clf, X, path):
    """A fitted scikit-learn MLPClassifier on X: f is its last hidden layer's activations, g the
    output layer (with its intercepts as a column); a binary classifier's single output unit
    z becomes the two logits (0, z). Checked against log predict_proba, centred per input."""
    activation = {"identity": lambda z: z, "logistic": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh,
                  "relu": lambda z: np.maximum(z, 0)}.get(clf.activation)
    if activation is None:
        raise ExportError(f"export_sklearn_mlp: unknown activation {clf.activation!r}")
    h = np.asarray(X, dtype=np.float64)
    for W, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        h = activation(h @ W + b)
    W, b = clf.coefs_[-1], clf.intercepts_[-1]
    g, bias = W.T.astype(np.float64), b.astype(np.float64)
    if g.shape[0] == 1:                       # binary: logits (0, z)
        g, bias = np.vstack([np.zeros_like(g), g]), np.concatenate([[0.0], bias])
    f, g = _with_bias(h, g, bias)
    with np.errstate(divide="ignore"):
        log_p = np.log(clf.predict_proba(X))
    error = check(f, g, log_p, "export_sklearn_mlp", centred=True)
    save(path, f, g)
    return error
