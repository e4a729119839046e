"""DeepfakeBench's Effort detector with its module names: a Hugging Face CLIP vision transformer
under `backbone` whose self-attention projections are SVD-residual linears (`weight_main`,
`bias`, `U_residual`, `S_residual`, `V_residual`), and a 2-class `head` on the pooled class
token. The split is written here from the paper's definition."""
import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionConfig, CLIPVisionModel

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class SVDResidualLinear(nn.Module):
  """W = weight_main (top n - r singular directions, frozen) + U diag(S) V (the last r)."""

  def __init__(self, linear, r):
    super().__init__()
    u, s, vh = torch.linalg.svd(linear.weight.detach().double(), full_matrices=False)
    k = s.shape[0] - r
    self.weight_main = nn.Parameter(((u[:, :k] * s[:k]) @ vh[:k]).float(), requires_grad=False)
    self.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=False)
    self.U_residual = nn.Parameter(u[:, k:].float().clone())
    self.S_residual = nn.Parameter(s[k:].float().clone())
    self.V_residual = nn.Parameter(vh[k:].float().clone())

  def forward(self, x):
    w = self.weight_main + self.U_residual @ torch.diag(self.S_residual) @ self.V_residual
    return F.linear(x, w, self.bias)


class EffortDetector(nn.Module):

  def __init__(self, hidden=32, layers=2, heads=4, patch=32, image=224, r=1, seed=0):
    super().__init__()
    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        patch_size=patch,
        image_size=image,
        hidden_act="quick_gelu")
    # DeepfakeBench keeps CLIPModel's vision_model (a CLIPVisionTransformer); transformers 5's
    # CLIPVisionModel is that module itself, with the same parameter names.
    vision = CLIPVisionModel(config)
    self.backbone = getattr(vision, "vision_model", vision)
    for layer in self.backbone.encoder.layers:
      attn = layer.self_attn
      for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        setattr(attn, name, SVDResidualLinear(getattr(attn, name), r))
    self.head = nn.Linear(hidden, 2)

  def trained(self, seed=1):
    """Moves every residual and the head as training would (not the split's own values)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
      for name, p in self.named_parameters():
        if "_residual" in name or name.startswith("head"):
          p.add_(0.3 * p.abs().mean() * torch.randn(p.shape, generator=g))
    return self.eval()

  def forward(self, images01):
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    pooled = self.backbone(pixel_values=(images01 - mean) / std).pooler_output
    return self.head(pooled)
