"""distill beside PyTorch (issue 29): the same networks, objective, epochs, batch size,
initialisation and float64 arithmetic as `logitbounds distill --data digits.npz
--teacher-hidden 128,128 --teacher-dimension 8 --students 8 --objectives kl`, trained in
PyTorch on the CPU, timed per network at 1 and 2 threads.

    pip install numpy 'torch==2.13.0+cpu'      (optional; not needed by the tool)
    python3 scripts/export-digits.py digits.npz
    python3 scripts/torch-distill-baseline.py digits.npz [EPOCHS]

Networks (THEORY.md §1, as `distill` builds them): tanh MLP 64 → 128 → 128 → d = 8, a
bias-free unembedding G (10×8); weights N(0, 1/fan_in), biases 0, G N(0, 1/d); Adam with step
0.01, batch 64, shuffled each epoch. Teacher: cross-entropy on the labels; student (same
shape): KL(teacher‖student) on the teacher's logits. Only training is timed (no evaluation).
"""
import sys
import time

import numpy as np
import torch
from torch import nn

path = sys.argv[1]
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 500
data = np.load(path)
x, y = data["x"].astype(np.float64), data["y"].astype(np.int64)
if "split" in data.files:
    split = data["split"]
else:  # as distill does without one: a stratified 60/20/20 split (here NumPy's, seed 0)
    split = np.zeros(len(y), dtype=np.int64)
    rng = np.random.default_rng(0)
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        split[rows[int(0.6 * len(rows)):int(0.8 * len(rows))]] = 1
        split[rows[int(0.8 * len(rows)):]] = 2
train = split == 0
x_train = torch.tensor(x[train])
y_train = torch.tensor(y[train])
k = int(y.max()) + 1


class Network(nn.Module):
    def __init__(self, inputs, hidden, d, labels, generator):
        super().__init__()
        widths = [inputs] + hidden + [d]
        self.layers = nn.ModuleList()
        for a, b in zip(widths[:-1], widths[1:]):
            layer = nn.Linear(a, b).double()
            with torch.no_grad():
                layer.weight.normal_(0, a ** -0.5, generator=generator)
                layer.bias.zero_()
            self.layers.append(layer)
        self.unembedding = nn.Parameter(torch.empty(labels, d, dtype=torch.float64).normal_(0, d ** -0.5, generator=generator))

    def forward(self, inputs):
        h = inputs
        for layer in self.layers:
            h = torch.tanh(layer(h))
        return h @ self.unembedding.T


def train_network(net, loss_of, seed):
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(seed)
    n = x_train.shape[0]
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for i in range(0, n, 64):
            rows = order[i:i + 64]
            optimiser.zero_grad()
            loss = loss_of(net(x_train[rows]), rows)
            loss.backward()
            optimiser.step()
    return time.perf_counter() - start


for threads in [1, 2]:
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(1)
    teacher = Network(x.shape[1], [128, 128], 8, k, g)
    t_teacher = train_network(teacher, lambda logits, rows: nn.functional.cross_entropy(logits, y_train[rows]), 2)
    with torch.no_grad():
        teacher_logits = teacher(x_train)
        accuracy = (teacher(torch.tensor(x[split == 2])).argmax(1).numpy() == y[split == 2]).mean()
    student = Network(x.shape[1], [128, 128], 8, k, g)

    def kl(logits, rows):
        p = torch.log_softmax(teacher_logits[rows], 1)
        return (p.exp() * (p - torch.log_softmax(logits, 1))).sum(1).mean()

    t_student = train_network(student, kl, 3)
    print(f"PyTorch {torch.__version__}, {threads} thread(s): teacher {t_teacher:.1f} s (test accuracy {accuracy:.3f}), "
          f"KL student {t_student:.1f} s; {epochs} epochs each, {x_train.shape[0]} training rows, float64")
