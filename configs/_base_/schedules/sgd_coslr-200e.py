# SGD + cosine annealing over 200 epochs, AMP (LEWEL Sec. 3.3; on CPU DenseRunner runs fp32).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    constructor='SkipEMAOptimWrapperConstructor',  # EMA / momentum encoders are not optimised
    optimizer=dict(type='SGD', lr=0.06, weight_decay=1e-4, momentum=0.9))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
