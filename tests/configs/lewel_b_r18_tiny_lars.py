# Tiny LEWEL_B (tests/configs/lewel_b_r18_tiny.py) with the LARS recipe of the -lars configs
# (configs/_base_/schedules/lars_coslr-200e.py): for the per-step overhead tests.
_base_ = ['lewel_b_r18_tiny.py', '../../configs/_base_/schedules/lars_coslr-200e.py']

optim_wrapper = {{_base_.lars_optim_wrapper}}
