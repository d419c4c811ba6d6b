"""Exports load in transformers (merged safetensors) and PEFT, with our model's logits."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gamecwm_jax.model import LoraConfig, forward, init_lora, load_pretrained
from gamecwm_jax.model import testing as model_testing
from gamecwm_jax.train import export

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = model_testing.make_tiny_qwen2(str(tmp_path_factory.mktemp("base")), tie=False, seed=3)
    cfg, params = load_pretrained(base, jnp.float32)
    lcfg = LoraConfig(rank=4, alpha=16.0, targets=("q", "k", "v", "o", "gate", "up", "down"))
    lora = init_lora(jax.random.PRNGKey(0), params, cfg, lcfg)
    # B = 0 at init: give it values so the adapter changes the logits.
    lora = jax.tree.map(
        lambda x: x + 0.03 * jax.random.normal(jax.random.PRNGKey(1), x.shape), lora
    )
    out = tmp_path_factory.mktemp("export")
    paths = export.export_all(str(out), cfg, params, lora, lcfg, base_model=base, dtype="float32")
    tokens = np.array([[3, 17, 42, 99, 7, 1]], np.int32)
    ours, _ = forward(
        params,
        cfg,
        jnp.asarray(tokens),
        jnp.arange(6)[None],
        jnp.ones_like(tokens),
        lora=lora,
        lora_cfg=lcfg,
    )
    return base, paths, tokens, np.asarray(ours)


def test_merged_export_loads_in_transformers_with_same_logits(trained):
    _, paths, tokens, ours = trained
    model = transformers.AutoModelForCausalLM.from_pretrained(
        paths["merged"], dtype=torch.float32
    ).eval()
    with torch.no_grad():
        theirs = model(torch.tensor(tokens, dtype=torch.long)).logits.numpy()
    np.testing.assert_allclose(theirs, ours, rtol=2e-4, atol=2e-4)


def test_peft_adapter_format(trained):
    from safetensors.numpy import load_file

    _, paths, _, _ = trained
    conf = json.load(open(os.path.join(paths["peft"], "adapter_config.json")))
    assert conf["peft_type"] == "LORA" and conf["r"] == 4 and conf["lora_alpha"] == 16.0
    assert set(conf["target_modules"]) == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    w = load_file(os.path.join(paths["peft"], "adapter_model.safetensors"))
    a = w["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
    b = w["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"]
    assert a.shape[0] == 4 and b.shape[1] == 4


def test_peft_adapter_loads_in_peft_with_same_logits(trained):
    peft = pytest.importorskip("peft")
    base, paths, tokens, ours = trained
    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model = peft.PeftModel.from_pretrained(model, paths["peft"]).eval()
    with torch.no_grad():
        theirs = model(torch.tensor(tokens, dtype=torch.long)).logits.numpy()
    np.testing.assert_allclose(theirs, ours, rtol=2e-4, atol=2e-4)
