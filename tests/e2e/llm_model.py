"""Tiny Llama-architecture models for the language-model tests and bench, made here with
Debian's python3-torch: random weights, written as safetensors (an 8-byte header length, a JSON
header, the raw tensors), and a SentencePiece tokenizer trained on the Debian FAQ. The
reference forward pass (RMSNorm, rotary embeddings as Hugging Face's rotate_half, grouped-query
attention, SwiGLU) is written here in plain PyTorch, with a key/value cache for generation."""
from __future__ import annotations

import gzip
import io
import json
import math
import struct
import tarfile
from pathlib import Path

import torch

FAQ = Path("/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz")


def train_tokenizer(directory: Path, vocab_size: int = 1000, chatml: bool = True) -> Path:
    """tokenizer.model: BPE with byte fallback over the Debian FAQ (BOS 1, EOS 2, unk 0)."""
    import sentencepiece as spm
    directory.mkdir(parents=True, exist_ok=True)
    text = directory / "faq.txt"
    lines = [l.strip() for l in gzip.decompress(FAQ.read_bytes()).decode("utf-8", "replace").splitlines()]
    text.write_text("\n".join(l for l in lines if l) + "\n")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(directory / "tokenizer"), vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, bos_id=1, eos_id=2, unk_id=0, pad_id=-1,
        user_defined_symbols=["<|im_start|>", "<|im_end|>"] if chatml else [], num_threads=2,
        minloglevel=2)
    text.unlink()
    return directory / "tokenizer.model"


def make_config(vocab: int, hidden: int = 64, intermediate: int = 128, layers: int = 2, heads: int = 4,
                kv_heads: int = 2, max_pos: int = 256, tie: bool = False, theta: float = 10000.0) -> dict:
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
            "intermediate_size": intermediate, "num_hidden_layers": layers, "num_attention_heads": heads,
            "num_key_value_heads": kv_heads, "rms_norm_eps": 1e-5, "rope_theta": theta, "vocab_size": vocab,
            "max_position_embeddings": max_pos, "tie_word_embeddings": tie, "bos_token_id": 1, "eos_token_id": 2,
            "torch_dtype": "float32"}


def random_weights(cfg: dict, seed: int = 0, scale: float = 0.15) -> dict[str, torch.Tensor]:
    """Weights large enough that greedy choices are decided by clear margins."""
    g = torch.Generator().manual_seed(seed)
    h, i, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    hd = h // cfg["num_attention_heads"]
    q, kv = cfg["num_attention_heads"] * hd, cfg["num_key_value_heads"] * hd
    w = {"model.embed_tokens.weight": torch.randn(v, h, generator=g),
         "model.norm.weight": 1 + 0.1 * torch.randn(h, generator=g)}
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = torch.randn(v, h, generator=g) * scale
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(h, generator=g)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(h, generator=g)
        for name, shape in (("self_attn.q_proj", (q, h)), ("self_attn.k_proj", (kv, h)), ("self_attn.v_proj", (kv, h)),
                            ("self_attn.o_proj", (h, q)), ("mlp.gate_proj", (i, h)), ("mlp.up_proj", (i, h)),
                            ("mlp.down_proj", (h, i))):
            w[p + name + ".weight"] = torch.randn(*shape, generator=g) * scale
    return w


_DTYPES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


def safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.bfloat16, torch.float16) else t.numpy().tobytes()
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def model_files(cfg: dict, weights: dict[str, torch.Tensor], tokenizer: Path, dtype=torch.float32,
                shards: int = 1, tokenizer_config: dict | None = None) -> dict[str, bytes]:
    """A Hugging Face style directory as {name: bytes}: config.json, model.safetensors (or
    shards and their index), tokenizer.model."""
    files = {"config.json": json.dumps(cfg).encode(), "tokenizer.model": tokenizer.read_bytes()}
    if tokenizer_config is not None:
        files["tokenizer_config.json"] = json.dumps(tokenizer_config).encode()
    cast = {k: v.to(dtype) for k, v in weights.items()}
    if shards == 1:
        files["model.safetensors"] = safetensors_bytes(cast)
        return files
    names = sorted(cast)
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        shard = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        files[shard] = safetensors_bytes({n: cast[n] for n in part})
        weight_map.update({n: shard for n in part})
    files["model.safetensors.index.json"] = json.dumps({"metadata": {}, "weight_map": weight_map}).encode()
    return files


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Reference:
    """The decoder in plain PyTorch (float32), batched, with a key/value cache."""

    def __init__(self, cfg: dict, weights: dict[str, torch.Tensor]):
        self.cfg = cfg
        self.w = {k: v.to(torch.float32) for k, v in weights.items()}
        self.h = cfg["hidden_size"]
        self.nh, self.nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.hd = self.h // self.nh
        self.eps = cfg["rms_norm_eps"]
        self.inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, self.hd, 2).float() / self.hd))
        self.head = self.w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else self.w["lm_head.weight"]

    def _norm(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def _rope(self, x, pos):  # x [B, heads, T, hd], pos [T]
        freqs = torch.outer(pos.float(), self.inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        half = self.hd // 2
        rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rot * sin

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, cache: list | None = None):
        """ids [B, T] → logits [B, T, vocab] and the cache after them."""
        B, T = ids.shape
        start = 0 if not cache else cache[0][0].shape[2]
        pos = torch.arange(start, start + T)
        x = self.w["model.embed_tokens.weight"][ids]
        new_cache = []
        for l in range(self.cfg["num_hidden_layers"]):
            p = f"model.layers.{l}."
            h = self._norm(x, self.w[p + "input_layernorm.weight"])
            q = (h @ self.w[p + "self_attn.q_proj.weight"].T).view(B, T, self.nh, self.hd).transpose(1, 2)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].T).view(B, T, self.nkv, self.hd).transpose(1, 2)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].T).view(B, T, self.nkv, self.hd).transpose(1, 2)
            q, k = self._rope(q, pos), self._rope(k, pos)
            if cache:
                k = torch.cat((cache[l][0], k), dim=2)
                v = torch.cat((cache[l][1], v), dim=2)
            new_cache.append((k, v))
            rep = self.nh // self.nkv
            kk, vv = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            scores = (q @ kk.transpose(2, 3)) / math.sqrt(self.hd)
            S = kk.shape[2]
            mask = torch.full((T, S), float("-inf")).triu(S - T + 1)
            att = torch.softmax(scores + mask, dim=-1) @ vv
            x = x + att.transpose(1, 2).reshape(B, T, self.h) @ self.w[p + "self_attn.o_proj.weight"].T
            h = self._norm(x, self.w[p + "post_attention_layernorm.weight"])
            gate = h @ self.w[p + "mlp.gate_proj.weight"].T
            up = h @ self.w[p + "mlp.up_proj.weight"].T
            x = x + (torch.nn.functional.silu(gate) * up) @ self.w[p + "mlp.down_proj.weight"].T
        return self._norm(x, self.w["model.norm.weight"]) @ self.head.T, new_cache

    def greedy(self, prompt: list[int], steps: int) -> tuple[list[int], list[torch.Tensor]]:
        """The greedy continuation of one prompt and the log-probabilities at each step."""
        logits, cache = self.forward(torch.tensor([prompt]))
        out, logprobs = [], []
        last = logits[0, -1]
        for _ in range(steps):
            lp = torch.log_softmax(last.double(), dim=-1)
            tok = int(torch.argmax(last))
            out.append(tok)
            logprobs.append(lp)
            logits, cache = self.forward(torch.tensor([[tok]]), cache)
            last = logits[0, -1]
        return out, logprobs
