# LOCA 100-epoch recipe with mixed precision: fp16 autocast + dynamic loss scaling on GPUs (set
# optim_wrapper.dtype='bfloat16' for bf16), bf16 autocast on CPUs with bf16 instructions. The
# paper is silent on precision and the release trains in float32 (configs/loca/README.md).
_base_ = './loca_vit-b16_16xb64_100e_in1k.py'

optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
