"""The two recipes edgecv's defaults are measured against, written as a user would write them.

plain_classify: the "60-line PyTorch script": torchvision ImageFolder + PIL transforms (light
RandomAffine, no flip), ResNet-18 from scratch, AdamW lr 1e-3 wd 0.05, OneCycleLR, batch 64.
dli_regress: the Jetson DLI course's x,y recipe: ResNet-18, fc = Linear(512, 2), Adam at its
default lr, MSE on targets scaled to [-1, 1], batch 8, ColorJitter(0.2, 0.2, 0.2, 0.2), final model.

Both read DATA/{train,test} written by benchmarks/train_sets.py and return the test metric, the wall
seconds and the process CPU seconds of training (every thread; on a shared VM the CPU time is the
steadier figure: another tenant's load stretches wall time more than the work done).
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def plain_classify(data: Path, imgsz: int, epochs: int, seed: int = 0) -> dict:
    import torch
    import torchvision
    from torchvision import transforms as T

    torch.manual_seed(seed)
    c0 = time.process_time()
    tf = T.Compose([T.Resize((imgsz, imgsz)), T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                    T.ToTensor(), T.Normalize(MEAN, STD)])
    tf_test = T.Compose([T.Resize((imgsz, imgsz)), T.ToTensor(), T.Normalize(MEAN, STD)])
    t0 = time.perf_counter()
    train = torchvision.datasets.ImageFolder(str(data / "train"), tf)
    loader = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
    model = torchvision.models.resnet18(num_classes=len(train.classes))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=epochs * len(loader))
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    test = torchvision.datasets.ImageFolder(str(data / "test"), tf_test)
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(test, batch_size=128):
            correct += int((model(x).argmax(1) == y).sum())
    return {"test_accuracy": correct / len(test), "train_s": secs, "cpu_s": cpu}


def _xy_set(folder: Path, tf):
    import torch
    from PIL import Image

    rows = list(csv.DictReader(open(folder / "labels.csv")))

    class XY(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            img = Image.open(folder / rows[i]["image"]).convert("RGB")
            w, h = img.size
            xy = torch.tensor([float(rows[i]["x"]) / w * 2 - 1, float(rows[i]["y"]) / h * 2 - 1])
            return tf(img), xy, torch.tensor([w, h], dtype=torch.float32)

    return XY()


def dli_regress(data: Path, imgsz: int, epochs: int, seed: int = 0) -> dict:
    import torch
    import torchvision
    from torchvision import transforms as T

    torch.manual_seed(seed)
    c0 = time.process_time()
    tf = T.Compose([T.ColorJitter(0.2, 0.2, 0.2, 0.2), T.Resize((imgsz, imgsz)), T.ToTensor(), T.Normalize(MEAN, STD)])
    t0 = time.perf_counter()
    loader = torch.utils.data.DataLoader(_xy_set(data / "train", tf), batch_size=8, shuffle=True)
    model = torchvision.models.resnet18()
    model.fc = torch.nn.Linear(512, 2)
    opt = torch.optim.Adam(model.parameters())
    for _ in range(epochs):
        model.train()
        for x, xy, _wh in loader:
            loss = torch.nn.functional.mse_loss(model(x), xy)
            opt.zero_grad()
            loss.backward()
            opt.step()
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    model.eval()
    tf_test = T.Compose([T.Resize((imgsz, imgsz)), T.ToTensor(), T.Normalize(MEAN, STD)])
    sq, ab, n = 0.0, 0.0, 0
    with torch.no_grad():
        for x, xy, wh in torch.utils.data.DataLoader(_xy_set(data / "test", tf_test), batch_size=64):
            err = (model(x) - xy) * wh / 2          # back to pixels
            sq, ab, n = sq + float((err ** 2).sum()), ab + float(err.abs().sum()), n + err.numel()
    return {"test_rmse_px": (sq / n) ** 0.5, "test_mae_px": ab / n, "train_s": secs, "cpu_s": cpu}
