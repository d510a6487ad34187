"""pytorch/examples' ``mnist_hogwild`` program in its shape, run from the command line with
``python -m ember.compat``: ``mp.set_start_method('spawn')``, ``model.share_memory()``, two
``mp.Process`` workers training the one model without locks, then the test in the parent.
The workers are spawned, so they re-import the script; the hook must be in them too. (The
comparison of a Hogwild run with torch is tests/test_multiprocessing.py's: lock-free updates
interleave differently from run to run.)"""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = textwrap.dedent('''
    import argparse
    import os

    import numpy as np
    import torch
    import torch.multiprocessing as mp
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim

    parser = argparse.ArgumentParser(description='PyTorch MNIST Hogwild Example')
    parser.add_argument('--data', required=True, help='an .npz of images and labels')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--epochs', type=int, default=10)
    parser.add_argument('--lr', type=float, default=0.01)
    parser.add_argument('--momentum', type=float, default=0.5)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--log-interval', type=int, default=10)
    parser.add_argument('--num-processes', type=int, default=2)


    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
            self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
            self.conv2_drop = nn.Dropout2d()
            self.fc1 = nn.Linear(320, 50)
            self.fc2 = nn.Linear(50, 10)

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, 320)
            x = F.relu(self.fc1(x))
            x = F.dropout(x, training=self.training)
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)


    def train(rank, args, model, device, dataset, dataloader_kwargs):
        torch.manual_seed(args.seed + rank)
        train_loader = torch.utils.data.DataLoader(dataset, **dataloader_kwargs)
        optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
        for epoch in range(1, args.epochs + 1):
            train_epoch(epoch, args, model, device, train_loader, optimizer)


    def train_epoch(epoch, args, model, device, data_loader, optimizer):
        model.train()
        pid = os.getpid()
        for batch_idx, (data, target) in enumerate(data_loader):
            optimizer.zero_grad()
            output = model(data.to(device))
            loss = F.nll_loss(output, target.to(device))
            loss.backward()
            optimizer.step()
            if batch_idx % args.log_interval == 0:
                print('{}\\tTrain Epoch: {} [{}/{} ({:.0f}%)]\\tLoss: {:.6f}'.format(
                    pid, epoch, batch_idx * len(data), len(data_loader.dataset),
                    100. * batch_idx / len(data_loader), loss.item()), flush=True)


    def test(args, model, device, dataset, dataloader_kwargs):
        torch.manual_seed(args.seed)
        test_loader = torch.utils.data.DataLoader(dataset, **dataloader_kwargs)
        model.eval()
        test_loss = 0
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                output = model(data.to(device))
                test_loss += F.nll_loss(output, target.to(device), reduction='sum').item()
                pred = output.max(1)[1]
                correct += pred.eq(target.to(device)).sum().item()
        test_loss /= len(test_loader.dataset)
        print('\\nTest set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)\\n'.format(
            test_loss, correct, len(test_loader.dataset),
            100. * correct / len(test_loader.dataset)))


    if __name__ == '__main__':
        args = parser.parse_args()
        device = torch.device("cpu")
        arrays = np.load(args.data)
        images = torch.from_numpy(arrays["images"]).float().div(255).sub(0.1307).div(0.3081)
        labels = torch.from_numpy(arrays["labels"])
        dataset1 = torch.utils.data.TensorDataset(images[:-200], labels[:-200])
        dataset2 = torch.utils.data.TensorDataset(images[-200:], labels[-200:])
        kwargs = {'batch_size': args.batch_size, 'shuffle': True}

        torch.manual_seed(args.seed)
        mp.set_start_method('spawn', force=True)

        model = Net().to(device)
        model.share_memory()  # gradients are allocated lazily, so they are not shared here

        processes = []
        for rank in range(args.num_processes):
            p = mp.Process(target=train, args=(rank, args, model, device,
                                               dataset1, kwargs))
            # We first train the model across `num_processes` processes
            p.start()
            processes.append(p)
        for p in processes:
            p.join()
            assert p.exitcode == 0

        # Once training is complete, we can test the model
        test(args, model, device, dataset2, kwargs)
''')


def test_hogwild_example_trains_in_two_spawned_processes(mnist_digits, tmp_path):
    images, labels = mnist_digits
    np.savez(tmp_path / "digits.npz", images=images[:1000, None], labels=labels[:1000])
    (tmp_path / "main.py").write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, "-m", "ember.compat", str(tmp_path / "main.py"), "--data",
         str(tmp_path / "digits.npz"), "--epochs", "1", "--batch-size", "32", "--lr", "0.05",
         "--log-interval", "5"], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    pids = set(re.findall(r"^(\d+)\tTrain Epoch", result.stdout, re.M))
    assert len(pids) == 2, result.stdout          # both workers trained
    accuracy = re.search(r"Accuracy: (\d+)/200", result.stdout)
    assert accuracy and int(accuracy.group(1)) > 100, result.stdout   # chance: 20
