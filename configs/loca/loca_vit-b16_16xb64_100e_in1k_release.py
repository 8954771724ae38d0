# LOCA ViT-B/16, 100 epochs, as the authors' code runs it (scenic projects/loca,
# loca_imnet1k_base16.py) where it differs from the paper recipe: no blur, tanh GELU, flax inits,
# weight decay on every tensor that is not a vector in flax (position embedding and q/k/v biases
# included), lr warm-up from exactly 0, EMA schedule index of the release, 39 visible reference
# tokens. Table:
# configs/loca/README.md; run-level test: tests/test_loca_release.py.
_base_ = './loca_vit-b16_16xb64_100e_in1k_no-blur.py'

model = dict(
    backbone=dict(gelu_approximate='tanh', init_mode='release'),
    position_head=dict(gelu_approximate='tanh', init_mode='release'),
    cluster_head=dict(gelu_approximate='tanh', init_mode='release'),
    reference_visible_rounding='release',  # int(0.2 * 196) = 39 visible reference tokens
    momentum_schedule_offset=1)
optim_wrapper = dict(
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.,
        bias_decay_mult=0.,
        # flax stores the q/k/v biases as (heads, head_dim): not vectors, so decayed
        custom_keys={'attn.qkv.bias': dict(decay_mult=1.)}))
max_epochs = 100
param_scheduler = [
    dict(type='LinearWarmupCosineLR', warmup=15, eta_min_ratio=0.01, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True)]
