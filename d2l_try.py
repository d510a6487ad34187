import time
import numpy as np
from ember.compat import torch_aliases
with torch_aliases():
    import torch
    from d2l import torch as d2l
    class Data(d2l.DataModule):
        def __init__(self, X, y, batch_size=4):
            super().__init__()
            self.save_hyperparameters()
        def get_dataloader(self, train):
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(self.X, self.y), self.batch_size, shuffle=False)
    X = torch.randn(12, 1, 28, 28); y = torch.randint(0, 10, (12,))
    data = Data(X, y)
    model = d2l.LeNet(lr=0.1)
    model.apply_init([X[:4]], d2l.init_cnn)
    print(model)
    t = time.time()
    trainer = d2l.Trainer(max_epochs=1)
    trainer.fit(model, data)
    print("fit", time.time() - t, dict(model.board.data))
    model.layer_summary((1, 1, 28, 28))
