# BYOL with the optimiser of LEWEL's released scripts (not the paper's text): the LARS recipe of
# configs/_base_/schedules/lars_coslr-200e.py (lr 3.6 @ 1024, wd 1.5e-6, no wd and no LARS
# adaptation for biases and norm parameters, 10-epoch warm-up, cosine).
_base_ = ['byol_r50_8xb64_200e.py', '../_base_/schedules/lars_coslr-200e.py']

optim_wrapper = {{_base_.lars_optim_wrapper}}
param_scheduler = {{_base_.lars_param_scheduler}}
auto_scale_lr = {{_base_.lars_auto_scale_lr}}
