#!/usr/bin/env python3
"""Writes the PyTorch reference files for csvae-analog's import test.

Defines the VAE18 network in PyTorch with small widths, seeds it, gives every batch norm
non-trivial running statistics, and writes into crates/csvae-analog/tests/data/:

- vae18_small.pt           the state_dict saved by torch.save (zip format)
- vae18_small.safetensors  the same tensors in safetensors format
- vae18_small_outputs.json the inputs and the evaluation-mode outputs (mu, logvar, and the
                           sigmoid reconstruction decoded from z = mu) for three fixed images

The Rust test needs only these files, not Python. Rerun this script after changing the
architecture: pip install torch safetensors, then python3 scripts/make_pytorch_reference.py.
"""

import json
import math
import pathlib

import torch
from torch import nn
from safetensors.torch import save_file

CHANNELS = (4, 4, 8, 8)
LATENT = 8
SEED = 2024
GAIN = 2.5
OUT = pathlib.Path(__file__).resolve().parent.parent / "crates/csvae-analog/tests/data"


class Vae18(nn.Module):
    """The VAE18 layer table with configurable widths (see DESIGN.md section 1)."""

    def __init__(self, channels=(64, 64, 128, 256), latent=128, input_channels=1):
        super().__init__()
        c0, c1, c2, c3 = channels
        self.c3 = c3
        flat = 16 * c3
        self.conv0 = nn.Conv2d(input_channels, c0, 5, 1, 2, bias=False)
        self.conv0_bn = nn.BatchNorm2d(c0)
        self.conv1 = nn.Conv2d(c0, c1, 4, 2, 3, bias=False)
        self.conv1_bn = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 4, 2, 1, bias=False)
        self.conv2_bn = nn.BatchNorm2d(c2)
        self.conv3 = nn.Conv2d(c2, c3, 4, 2, 1, bias=False)
        self.conv3_bn = nn.BatchNorm2d(c3)
        self.fc21 = nn.Linear(flat, latent)
        self.fc22 = nn.Linear(flat, latent)
        self.fc3 = nn.Linear(latent, flat)
        # Present in the original model's state_dict; its forward pass never uses it.
        self.fc3_bn = nn.BatchNorm1d(flat)
        self.deconv1 = nn.ConvTranspose2d(c3, c2, 4, 2, 1, bias=False)
        self.deconv1_bn = nn.BatchNorm2d(c2)
        self.deconv2 = nn.ConvTranspose2d(c2, c1, 4, 2, 1, bias=False)
        self.deconv2_bn = nn.BatchNorm2d(c1)
        self.deconv3 = nn.ConvTranspose2d(c1, c0, 4, 2, 3, bias=False)
        self.deconv3_bn = nn.BatchNorm2d(c0)
        self.deconv4 = nn.ConvTranspose2d(c0, input_channels, 5, 1, 2, bias=False)

    def encode(self, x):
        h = torch.relu(self.conv0_bn(self.conv0(x)))
        h = torch.relu(self.conv1_bn(self.conv1(h)))
        h = torch.relu(self.conv2_bn(self.conv2(h)))
        h = torch.relu(self.conv3_bn(self.conv3(h)))
        h = h.flatten(1)
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        h = torch.relu(self.fc3(z)).view(-1, self.c3, 4, 4)
        h = torch.relu(self.deconv1_bn(self.deconv1(h)))
        h = torch.relu(self.deconv2_bn(self.deconv2(h)))
        h = torch.relu(self.deconv3_bn(self.deconv3(h)))
        return torch.sigmoid(self.deconv4(h))


def perturb_batch_norms(model, generator):
    """Moves every batch norm away from the identity so that a wrong mapping shows."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            n = module.num_features
            with torch.no_grad():
                module.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=generator))
                module.bias.copy_(0.2 * torch.rand(n, generator=generator) - 0.1)
                module.running_mean.copy_(0.4 * torch.rand(n, generator=generator) - 0.2)
                module.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=generator))
                module.num_batches_tracked.fill_(37)


def amplify_weights(model, gain):
    """Multiplies every convolution and linear weight by `gain`.

    PyTorch's default initialisation leaves a narrow untrained network with outputs near 0
    (mu) and 0.5 (image), which would make the comparison weak; larger weights spread them.
    """
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("weight") and parameter.dim() > 1:
                parameter.mul_(gain)


def images():
    """Three 28x28 images in [0, 1]: a smooth wave, a disk and a diagonal ramp with stripes."""
    rows = []
    for y in range(28):
        for x in range(28):
            rows.append(
                (
                    0.5 + 0.5 * math.sin(0.37 * x + 0.21 * y) * math.cos(0.11 * y - 0.05 * x),
                    1.0 if (x - 13.5) ** 2 + (y - 12.0) ** 2 < 64.0 else 0.0,
                    ((x + y) / 54.0) * (1.0 if (x // 3) % 2 == 0 else 0.25),
                )
            )
    data = torch.tensor(rows, dtype=torch.float32).T.reshape(3, 1, 28, 28)
    return data


def main():
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED + 1)
    model = Vae18(CHANNELS, LATENT)
    perturb_batch_norms(model, generator)
    amplify_weights(model, GAIN)
    model.eval()

    OUT.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    torch.save(state, OUT / "vae18_small.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, OUT / "vae18_small.safetensors")

    x = images()
    with torch.no_grad():
        mu, logvar = model.encode(x)
        reconstruction = model.decode(mu)

    def flat(t):
        return [float(v) for v in t.reshape(-1).tolist()]

    outputs = {
        "generator": "scripts/make_pytorch_reference.py",
        "torch_version": torch.__version__,
        "channels": list(CHANNELS),
        "latent_dim": LATENT,
        "input_shape": list(x.shape),
        "input": flat(x),
        "mu": flat(mu),
        "logvar": flat(logvar),
        "reconstruction": flat(reconstruction),
    }
    (OUT / "vae18_small_outputs.json").write_text(json.dumps(outputs) + "\n")
    for name in sorted(p.name for p in OUT.iterdir()):
        print(name, (OUT / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
