"""The checks behind scripts/test-python-interop: export_model.py on a PyTorch classifier
with a biased head, a Hugging Face GPT-2 built from a small config (random weights, nothing
downloaded) and scikit-learn MLPClassifiers on the bundled digits; each export reproduces its
model's logits, each wrong export is refused, and `logitbounds measure` reads every pair.

    python3 scripts/interop_check.py .build/release/logitbounds WORKDIR
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_model import ExportError, export_causal_lm, export_classifier, export_sklearn_mlp  # noqa: E402

tool, work = sys.argv[1], sys.argv[2]
os.makedirs(work, exist_ok=True)
failures = []


def expect(ok, message):
    print(("ok   " if ok else "FAIL ") + message)
    if not ok:
        failures.append(message)


def measure(a, b, name):
    r = subprocess.run([tool, "measure", a, b, "--json", "--no-pivot"], capture_output=True, text=True)
    ok = r.returncode == 0
    report = json.loads(r.stdout) if ok else {}
    expect(ok and np.isfinite(report.get("d_logit_squared", np.nan)),
           f"measure reads the {name} pair: d_logit² = {report.get('d_logit_squared')}, m_CCA = {report.get('mcca_centered')}"
           + ("" if ok else f" (exit {r.returncode}: {r.stderr.strip()[-200:]})"))


def refused(call, name):
    try:
        call()
    except ExportError as e:
        expect(True, f"{name} refused: {str(e)[:90]}…")
        return
    expect(False, f"{name} was exported without complaint")


# A PyTorch classifier with a biased head; and one that scales its logits after the head.
import torch  # noqa: E402
from torch import nn  # noqa: E402

torch.manual_seed(0)
x = torch.randn(200, 10, dtype=torch.float64)


class Classifier(nn.Module):
    def __init__(self, scale=1.0):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 16), nn.Tanh(), nn.Linear(16, 6), nn.Tanh())
        self.head = nn.Linear(6, 5)
        self.scale = scale

    def forward(self, inputs):
        return self.scale * self.head(self.body(inputs))


teacher, student = Classifier().double(), Classifier().double()
for model, name in [(teacher, "teacher"), (student, "student")]:
    error = export_classifier(model, model.head, x, f"{work}/classifier-{name}.npz")
    expect(error <= 1e-12, f"PyTorch classifier ({name}): f @ g.T reproduces the logits to {error:.1e}")
expect(np.load(f"{work}/classifier-teacher.npz")["f"].shape == (200, 7), "the head's bias became a column of ones (d = 6 + 1)")
measure(f"{work}/classifier-teacher.npz", f"{work}/classifier-student.npz", "PyTorch classifier")
scaled = Classifier(scale=2.0).double()
refused(lambda: export_classifier(scaled, scaled.head, x, f"{work}/bad.npz"), "a classifier scaling its logits after the head")
refused(lambda: export_classifier(teacher, nn.Linear(6, 5).double(), x, f"{work}/bad.npz"), "an output layer the model never calls")

# A Hugging Face GPT-2 from a small config (random weights); and one soft-capping its logits.
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

config = GPT2Config(vocab_size=97, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
ids = torch.randint(0, 97, (4, 24))
for seed, name in [(1, "teacher"), (2, "student")]:
    torch.manual_seed(seed)
    lm = GPT2LMHeadModel(config).eval()
    error = export_causal_lm(lm, ids, f"{work}/gpt2-{name}.npz")
    expect(error <= 1e-5, f"GPT-2 ({name}, float32): f @ g.T reproduces the logits to {error:.1e}")
measure(f"{work}/gpt2-teacher.npz", f"{work}/gpt2-student.npz", "GPT-2")


class SoftCapped(nn.Module):
    """A causal LM whose logits are soft-capped after the output layer (as some models do)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def get_output_embeddings(self):
        return self.inner.get_output_embeddings()

    def forward(self, input_ids):
        out = self.inner(input_ids)
        out.logits = 3.0 * torch.tanh(out.logits / 3.0)
        return out


refused(lambda: export_causal_lm(SoftCapped(lm), ids, f"{work}/bad.npz"), "a soft-capped GPT-2")

# scikit-learn MLPClassifiers on the bundled digits (multiclass) and a binary one.
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

digits = load_digits()
X, y = digits.data / 16.0, digits.target
for seed, name in [(1, "teacher"), (2, "student")]:
    clf = MLPClassifier(hidden_layer_sizes=(32, 8), max_iter=300, random_state=seed).fit(X, y)
    error = export_sklearn_mlp(clf, X, f"{work}/sklearn-{name}.npz")
    expect(error <= 1e-8, f"scikit-learn MLP ({name}): f @ g.T reproduces log p (centred) to {error:.1e}")
measure(f"{work}/sklearn-teacher.npz", f"{work}/sklearn-student.npz", "scikit-learn MLP")
binary = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=3).fit(X, y % 2)
error = export_sklearn_mlp(binary, X, f"{work}/sklearn-binary.npz")
expect(error <= 1e-8 and np.load(f"{work}/sklearn-binary.npz")["g"].shape == (2, 9),
       f"binary scikit-learn MLP: two logits (0, z), reproduced to {error:.1e}")

print(f"interop: {'all passed' if not failures else f'{len(failures)} FAILED'}")
sys.exit(1 if failures else 0)
