# SGD + cosine annealing over 200 epochs, fp32. Precision is each method's (its README, section
# "Precision"): a config that trained with AMP sets optim_wrapper.type='AmpOptimWrapper'.
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='SkipEMAOptimWrapperConstructor',  # EMA / momentum encoders are not optimised
    optimizer=dict(type='SGD', lr=0.06, weight_decay=1e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
