"""Trainer(cuda_graph=True): the captured step gives eager's losses and weights; changes re-capture."""

import pytest
import torch

from phazelab import PhazeA, PhazeAConfig
from phazelab.data import make_source
from phazelab.train import Trainer

MICRO = PhazeAConfig.preset("lab-tiny").replace(dec_res_blocks=0, fs_original_min_filters=16, dec_min_filters=16)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def make(device: str = "cpu", **kwargs) -> Trainer:
    torch.manual_seed(0)
    kwargs.setdefault("precision", "fp32")
    return Trainer(PhazeA(MICRO), make_source("synthetic:0"), make_source("synthetic:1"), batch_size=2,
                   device=device, lr=1e-3, **kwargs)


def drive(trainer: Trainer) -> None:
    """4 steps (3 warm-up + the capture), freeze, 5 steps, new lr, 4 steps, unfreeze, 1 step."""
    torch.manual_seed(1)  # the model's noise layers draw from the global RNG
    trainer.run(4)
    trainer.freeze("encoder")
    trainer.run(5)
    trainer.set_lr(5e-4)
    trainer.run(4)
    trainer.unfreeze()
    trainer.run(1)


def same_weights(a: Trainer, b: Trainer) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cpu_graph_path_equals_eager_and_recaptures_on_changes():
    eager, graph = make(), make(cuda_graph=True)
    drive(eager)
    drive(graph)
    assert [h["loss"] for h in graph.history] == [h["loss"] for h in eager.history]
    assert same_weights(graph, eager)
    # captured after 3 eager steps, again after the freeze and after the new lr; the unfreeze is followed
    # by only 1 step (still warming up)
    assert graph._graph.captures == 3
    assert graph._graph.replays == 1 + 2 + 1
    assert graph.settings()["cuda_graph"] is True


def test_graph_options_are_checked():
    with pytest.raises(ValueError, match="compile"):
        make(cuda_graph=True, compile=True)


def test_checkpoint_resume_keeps_the_graph_option(tmp_path):
    graph = make(cuda_graph=True, checkpoint_dir=tmp_path)
    torch.manual_seed(1)
    graph.run(5)
    back = Trainer.from_checkpoint(tmp_path, make_source("synthetic:0"), make_source("synthetic:1"), device="cpu")
    assert back.cuda_graph and back._graph is not None and back.step == 5
    back.run(2)
    eager = make()
    torch.manual_seed(1)
    eager.run(7)
    assert same_weights(back, eager)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_replay_matches_eager_on_the_gpu():
    eager, graph = make("cuda", precision="bf16"), make("cuda", precision="bf16", cuda_graph=True)
    drive(eager)
    drive(graph)
    assert graph._graph.captures == 3 and graph._graph.replays == 4
    le, lg = [h["loss"] for h in eager.history], [h["loss"] for h in graph.history]
    assert lg == pytest.approx(le, rel=2e-2)  # same arithmetic; bf16 and kernel choice differ in the last bits
    for k, v in eager.model.state_dict().items():
        assert torch.allclose(graph.model.state_dict()[k].float(), v.float(), atol=5e-3), k
    with pytest.raises(ValueError, match="fp16"):
        make("cuda", precision="fp16", cuda_graph=True)
