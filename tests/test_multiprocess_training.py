"""Training under `accelerate launch` on several processes: one checkpoint, written once, batch kept at 32."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from charbench.errors import CharbenchError
from tests.helpers import pairs_file
from trainers.finetune import DPOSettings, SFTSettings, batch_plan
from trainers.provenance import PROMPTS_FILE

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(*argv: str) -> subprocess.CompletedProcess:
    """`accelerate launch` with the shipped DDP config on two processes, on CPU (gloo) even on a GPU machine.

    (`accelerate launch --cpu` would start one process: accelerate starts several CPU processes only through
    mpirun, or through torchrun as here with a multi-GPU config.)
    """
    command = [
        *(sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ROOT / "accelerate" / "ddp.yaml")),
        *("--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"),
        *("--main_process_port", str(free_port()), "-m", "charbench.cli", *argv),
    ]
    env = {
        **os.environ,
        **dict(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES=""),
    }
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_grad_accum_is_derived_so_the_effective_batch_is_32_on_any_number_of_processes():
    for world_size, grad_accum in [(1, 8), (2, 4), (4, 2), (8, 1), (16, 1)]:
        plan = batch_plan(DPOSettings(batch_size=4), world_size)
        assert plan["grad_accum"] == grad_accum and plan["grad_accum_from"] == "effective_batch"
    assert batch_plan(SFTSettings(batch_size=4), 2)["effective_batch"] == 32
    assert batch_plan(DPOSettings(batch_size=4), 16)["effective_batch"] == 64  # cannot go below one row each


def test_an_effective_batch_that_does_not_divide_is_rounded_up_and_recorded_as_achieved():
    plan = batch_plan(DPOSettings(batch_size=4), 3)
    assert plan["grad_accum"] == 3
    assert plan["effective_batch"] == 36 and plan["effective_batch_requested"] == 32


def test_an_explicit_grad_accum_wins():
    plan = batch_plan(DPOSettings(batch_size=4, grad_accum=2), 2)
    assert plan["grad_accum"] == 2 and plan["grad_accum_from"] == "explicit" and plan["effective_batch"] == 16


def test_batch_settings_below_one_are_refused():
    for bad in (dict(batch_size=0), dict(grad_accum=0), dict(effective_batch=0)):
        with pytest.raises(CharbenchError):
            batch_plan(DPOSettings(**bad), 1)


@pytest.mark.parametrize("name, distributed_type", [("ddp.yaml", "MULTI_GPU"), ("zero3.yaml", "DEEPSPEED")])
def test_shipped_accelerate_configs_parse_with_accelerates_own_loader(name, distributed_type):
    from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
    from accelerate.commands.launch import launch_command_parser

    config = load_config_from_file(str(ROOT / "accelerate" / name))
    assert isinstance(config, ClusterConfig)
    assert config.distributed_type.value == distributed_type and config.mixed_precision == "bf16"
    launch_options = vars(launch_command_parser().parse_args(["script.py"]))
    assert set(config.deepspeed_config) <= set(launch_options)  # `accelerate launch` maps these keys to its flags
    if distributed_type == "DEEPSPEED":
        assert config.deepspeed_config["zero_stage"] == 3
        assert config.deepspeed_config["zero3_save_16bit_model"] is True  # save_model gathers the shards


def test_two_process_dpo_writes_one_checkpoint_once_with_the_batch_it_trained_with(tiny_llama_dir, tmp_path):
    data, _ = pairs_file(tmp_path)
    out = tmp_path / "adapters" / "dpo"
    done = launch(
        *("train", "dpo", "--data", str(data), "--model", str(tiny_llama_dir), "--out", str(out)),
        *("--max-steps", "2", "--lora-r", "4", "--lora-alpha", "8", "--batch-size", "1", "--effective-batch", "4"),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert [p.name for p in out.parent.iterdir()] == ["dpo"]  # no .partial left beside it
    files = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "charbench_train.json", PROMPTS_FILE} <= files
    assert not any(name.endswith((".bin", ".pt")) and name.startswith("adapter") for name in files)
    from safetensors.torch import load_file

    assert any("lora_" in key for key in load_file(out / "adapter_model.safetensors"))
    record = json.loads((out / "charbench_train.json").read_text())
    assert record["batch"] == {
        "world_size": 2,
        "per_device_batch": 1,
        "grad_accum": 2,
        "grad_accum_from": "effective_batch",
        "effective_batch": 4,
        "effective_batch_requested": 4,
    }
    assert record["rows"] == 6 and len(record["log_history"]) == 2
