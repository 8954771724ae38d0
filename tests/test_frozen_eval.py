"""Frozen dense evaluations: DAVIS J/F, label propagation, K-means, segment retrieval, linear SVM,
CAMs; each tool end-to-end on the demo data through its script."""
import itertools
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from densepre.evaluation.davis_metrics import (boundary_f_measure, boundary_tolerance, disk,
                                               evaluate_sequence, region_similarity, seg_boundary)
from densepre.evaluation.label_propagation import context_frames, propagate_labels
from densepre.evaluation.linear_svm import (average_precision, fit_svm, interpolated_ap,
                                            stratified_folds)
from densepre.evaluation.segment_retrieval import (confusion, kmeans, majority_labels, mean_iou,
                                                   nearest_labels, region_descriptors,
                                                   upsample_segments)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def square(shape, r0, c0, size=3):
    m = np.zeros(shape, bool)
    m[r0:r0 + size, c0:c0 + size] = True
    return m


# ----------------------------------------------------------------------------------- J and F
def test_region_similarity_hand_values():
    gt = square((6, 6), 1, 1, 2)  # 4 px
    shifted = square((6, 6), 1, 2, 2)  # one px right: 2 shared, union 6
    assert region_similarity(gt, shifted) == pytest.approx(2 / 6)
    assert region_similarity(gt, gt) == 1
    empty = np.zeros((6, 6), bool)
    assert region_similarity(empty, empty) == 1  # official: J = 1 when both are empty
    assert region_similarity(gt, empty) == 0
    assert region_similarity(empty, gt) == 0


def test_boundary_map_of_a_square():
    # seg2bmap marks pixels that differ from their right / lower / lower-right neighbour: for a
    # 3x3 block at rows/cols 3..5: column 2 (rows 3-5), row 2 (cols 2-5), column 5 (rows 3-5)
    # and row 5 (cols 3-4) = 3 + 4 + 3 + 2 = 12 px
    b = seg_boundary(square((10, 10), 3, 3))
    expected = np.zeros((10, 10), bool)
    expected[3:6, 2] = expected[2, 2:6] = expected[3:6, 5] = expected[5, 3:6] = True
    assert b.sum() == 12 and (b == expected).all()


def test_boundary_f_hand_values():
    gt, pred = square((10, 10), 3, 3), square((10, 10), 3, 4)  # one-pixel shift
    # 10x10: tolerance ceil(0.008 * 14.1) = 1 px, so every shifted boundary pixel matches
    assert boundary_tolerance((10, 10)) == 1
    assert boundary_f_measure(gt, pred) == 1.0
    # exact matching (tolerance 0): the 12 boundary pixels and their shifted copies share the
    # 3 + 3 horizontal neighbour pairs of rows 2 and 5 -> P = R = 6 / 12, F = 0.5
    assert boundary_f_measure(gt, pred, bound_th=0) == pytest.approx(0.5)
    # two-pixel shift, tolerance 1: the left/right edges move by 2 and no longer match;
    # matched: rows 2 and 5 (pairs at distance <= 1 along the rows) -> hand count
    far = square((10, 10), 3, 5)
    p = seg_boundary(far)
    g = seg_boundary(gt)
    cross = disk(1)
    import cv2
    gd = cv2.dilate(g.astype(np.uint8), cross).astype(bool)
    fd = cv2.dilate(p.astype(np.uint8), cross).astype(bool)
    prec, rec = (p & gd).sum() / p.sum(), (g & fd).sum() / g.sum()
    assert (p & gd).sum() == 8 and prec == rec == 8 / 12
    assert boundary_f_measure(gt, far) == pytest.approx(8 / 12)
    empty = np.zeros((10, 10), bool)
    assert boundary_f_measure(empty, empty) == 1.0  # P = R = 1
    assert boundary_f_measure(gt, empty) == 0.0  # P = 1, R = 0
    assert boundary_f_measure(empty, gt) == 0.0  # P = 0, R = 1
    # the official tolerance at 480p: ceil(0.008 * |(480, 854)|) = ceil(7.84) = 8 px
    assert boundary_tolerance((480, 854)) == 8
    assert disk(2).tolist() == [[0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1],
                                [0, 1, 1, 1, 0], [0, 0, 1, 0, 0]]


def test_sequence_statistics_skip_first_and_last_frame():
    gt = np.zeros((4, 10, 10), np.uint8)
    gt[:, 3:6, 3:6] = 1
    pred = gt.copy()
    pred[0] = 0  # first and last frames are not scored
    pred[3] = 0
    pred[2, 3:6, 3:6] = 0  # frame 2: empty prediction -> J = 0, F = 0
    (obj, ) = evaluate_sequence(gt, pred, name='s')
    assert obj['object'] == 's_1'
    assert obj['J']['M'] == pytest.approx(0.5) and obj['F']['M'] == pytest.approx(0.5)
    assert obj['J']['R'] == pytest.approx(0.5)
    with pytest.raises(ValueError, match='object id 2'):
        evaluate_sequence(gt, np.where(pred > 0, 2, 0).astype(np.uint8))


def test_davis_metric_is_registered_where_the_registry_says():
    code = ('from densepre.registry import METRICS; m = METRICS.build(dict(type="DavisJF")); '
            'print(type(m).__module__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=REPO), check=True).stdout
    assert out.strip().splitlines()[-1] == "densepre.evaluation.davis_metrics"


# ----------------------------------------------------------------------------- propagation
def test_context_frames_pad_with_the_first_frame():
    assert context_frames(1, 3).tolist() == [0, 0, 0, 0]
    assert context_frames(5, 3).tolist() == [0, 2, 3, 4]


def test_static_video_reproduces_the_first_frame_labels_exactly():
    torch.manual_seed(0)
    frame = torch.randn(16, 6, 7)
    feats = frame.expand(5, -1, -1, -1).clone()
    ids = torch.randint(0, 3, (6, 7))
    first = torch.nn.functional.one_hot(ids, 3).permute(2, 0, 1).float()
    for tile in (3, None):
        out = propagate_labels(feats, first, tile=tile)
        assert torch.equal(out.argmax(1), ids.expand(5, -1, -1))
        torch.testing.assert_close(out, first.expand(5, -1, -1, -1), rtol=0, atol=1e-6)


def test_propagation_matches_a_per_pixel_reference():
    """The tiled and the dense affinity / top-k / radius computation against a direct per-query
    loop."""
    torch.manual_seed(1)
    t, c, h, w, k = 5, 8, 6, 7, 3
    feats = torch.randn(t, c, h, w)
    first = torch.rand(k, h, w)
    topk, temp, ctx, radius = 4, 0.1, 2, 2.0
    outs = [propagate_labels(feats, first, topk, temp, ctx, radius, tile) for tile in (2, None)]
    f = torch.nn.functional.normalize(feats, dim=1).flatten(2)
    ref = torch.zeros(t, k, h * w)
    ref[0] = first.flatten(1)
    pos = [(i // w, i % w) for i in range(h * w)]
    for ti in range(1, t):
        frames = [0] + [max(0, j) for j in range(ti - ctx, ti)]
        for q in range(h * w):
            cand = []
            for li, fr in enumerate(frames):
                for kk in range(h * w):
                    d = ((pos[q][0] - pos[kk][0]) ** 2 + (pos[q][1] - pos[kk][1]) ** 2) ** .5
                    if li == 0 or d < radius:
                        cand.append((float(f[fr, :, kk] @ f[ti, :, q]) / temp, fr, kk))
            cand.sort(key=lambda x: -x[0])
            top = cand[:topk]
            wts = torch.tensor([s for s, _, _ in top]).softmax(0)
            ref[ti, :, q] = sum(wt * ref[fr, :, kk] for wt, (_, fr, kk) in zip(wts, top))
    for out in outs:
        torch.testing.assert_close(out, ref.view(t, k, h, w), rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- DAVIS tool
def backbone_checkpoint(path, kind='resnet18'):
    from densepre.registry import MODELS
    if kind == 'resnet18':
        model = MODELS.build(dict(type='ResNet', depth=18))
        meta = {}
    else:
        model = MODELS.build(dict(
            type='VisionTransformer', img_size=64, patch_size=16, out_type='featmap',
            with_cls_token=False, arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                                            feedforward_channels=128)))
        meta = {'cfg': "model = dict(backbone=dict(type='VisionTransformer', arch=dict("
                       "embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128)))"}
    model.init_weights()
    state = {f'backbone.{k}': v for k, v in model.state_dict().items()}
    state['neck.fc.weight'] = torch.zeros(2, 2)  # a pretraining head, dropped on extraction
    torch.save({'state_dict': state, 'meta': meta}, path)
    return str(path)


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    d = tmp_path_factory.mktemp('frozen_ckpt')
    return dict(resnet=backbone_checkpoint(d / 'r18.pth'),
                vit=backbone_checkpoint(d / 'vit.pth', 'vit'))


@pytest.fixture(scope='module')
def davis_root(tmp_path_factory):
    from densepre.demo import make_demo_davis
    return make_demo_davis(str(tmp_path_factory.mktemp('davis') / 'DAVIS'), num_train=1,
                           num_val=2, num_frames=6, height=48, width=80)['root']


@pytest.mark.parametrize('kind', ['resnet', 'vit'])
def test_davis_tool_end_to_end(kind, ckpts, davis_root, tmp_path):
    import davis_propagation
    import summarize
    out = davis_propagation.main([ckpts[kind], '--data-root', davis_root, '--out-dir',
                                  str(tmp_path), '--device', 'cpu', '--context', '3'])
    m = out['metrics']
    assert 0 <= m['J-Mean'] <= 100 and 0 <= m['F-Mean'] <= 100
    assert m['J&F-Mean'] == pytest.approx((m['J-Mean'] + m['F-Mean']) / 2)
    assert out['feature_stride'] == (8 if kind == 'resnet' else 16)
    seqs = open(osp.join(davis_root, 'ImageSets', '2017', 'val.txt')).read().split()
    for seq in seqs:
        files = sorted(os.listdir(osp.join(tmp_path, 'masks', seq)))
        assert len(files) == 6
        first = Image.open(osp.join(tmp_path, 'masks', seq, files[0]))
        gt = Image.open(osp.join(davis_root, 'Annotations', '480p', seq, files[0]))
        assert first.mode == 'P' and first.getpalette()[:12] == gt.getpalette()[:12]
        assert set(np.unique(first)) <= set(np.unique(gt))
        assert osp.isfile(osp.join(tmp_path, 'overlays', f'{seq}.png'))
    text = summarize.main([str(tmp_path), '--no-paper'])
    assert '### davis2017_propagation' in text and 'J&F-Mean' in text


def test_davis_tool_rejects_a_non_palette_annotation(ckpts, davis_root, tmp_path):
    import shutil

    import davis_propagation
    root = tmp_path / 'DAVIS'
    shutil.copytree(davis_root, root)
    seq = open(root / 'ImageSets' / '2017' / 'val.txt').read().split()[0]
    ann = root / 'Annotations' / '480p' / seq / '00000.png'
    Image.open(ann).convert('RGB').save(ann)
    with pytest.raises(ValueError, match='00000.png.*palette'):
        davis_propagation.main([ckpts['resnet'], '--data-root', str(root), '--out-dir',
                                str(tmp_path / 'out')])


def test_incomplete_checkpoint_is_refused(tmp_path):
    from densepre.evaluation import load_frozen_backbone
    from densepre.transfer.checkpoint import IncompleteLoadingError
    path = backbone_checkpoint(tmp_path / 'r18.pth')
    ckpt = torch.load(path, weights_only=False)
    del ckpt['state_dict']['backbone.layer4.1.conv2.weight']
    torch.save(ckpt, path)
    with pytest.raises(IncompleteLoadingError, match='layer4.1.conv2.weight'):
        load_frozen_backbone(path, log=lambda m: None)


# ----------------------------------------------------------------------------- segment retrieval
def lloyd_reference(x, init, iters):
    """Per-problem, per-point Lloyd iterations (brute force)."""
    centres = x[init].clone()
    assign = None
    for _ in range(iters):
        new = torch.tensor([int(torch.stack([((p - cc) ** 2).sum() for cc in centres]).argmin())
                            for p in x])
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        for j in range(len(centres)):
            if (assign == j).any():
                centres[j] = x[assign == j].mean(0)
    return assign, centres


def test_kmeans_matches_brute_force():
    torch.manual_seed(0)
    x = torch.randn(3, 40, 4, dtype=torch.float64).float()
    init = torch.stack([torch.randperm(40)[:5] for _ in range(3)])
    assign, centres = kmeans(x, 5, iters=30, init=init)
    for b in range(3):
        ref_a, ref_c = lloyd_reference(x[b], init[b], 30)
        assert torch.equal(assign[b], ref_a)
        torch.testing.assert_close(centres[b], ref_c, rtol=1e-5, atol=1e-5)
    # seeded: deterministic, and another seed gives another initialisation
    a1, _ = kmeans(x, 5, seed=3)
    a2, _ = kmeans(x, 5, seed=3)
    assert torch.equal(a1, a2)


def test_kmeans_finds_the_optimal_partition_of_separated_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[0., 0.], [10., 0.], [0., 10.]])
    labels = torch.arange(9) % 3
    x = centres[labels] + 0.3 * torch.randn(9, 2)
    assign, _ = kmeans(x[None], 3, seed=0)

    def inertia(a):
        return sum(((x[a == j] - x[a == j].mean(0)) ** 2).sum() for j in range(3) if (a == j).any())
    # every partition of the 9 points into <= 3 clusters, vectorised:
    # inertia = sum |x|^2 - sum_j |sum of cluster j|^2 / |cluster j|
    parts = np.array(list(itertools.product(range(3), repeat=9)))
    onehot = np.eye(3)[parts]  # M, 9, 3
    sums = np.einsum('mnk,nd->mkd', onehot, x.double().numpy())
    counts = onehot.sum(1)
    best = (x.double() ** 2).sum().item() - (
        (sums ** 2).sum(-1) / np.maximum(counts, 1)).sum(-1).max()
    assert inertia(assign[0]) == pytest.approx(float(best), rel=1e-5)


# ----------------------------------------------------------------------------- retrieval
def test_retrieving_train_segments_from_themselves_gives_miou_one():
    torch.manual_seed(0)
    grids = torch.randint(0, 4, (3, 8, 8))  # class per feature cell
    feats = torch.nn.functional.one_hot(grids, 4).float().flatten(1, 2)  # B, 64, 4
    assign, _ = kmeans(feats, 15, seed=0)
    desc = region_descriptors(feats, assign, 15)
    bank, bank_labels, per_image = [], [], []
    for b in range(3):
        gt = np.kron(grids[b].numpy(), np.ones((4, 4), np.int64))  # 32x32 labels
        seg = upsample_segments(assign[b].view(8, 8).numpy(), gt.shape)
        labels = majority_labels(seg, gt, 15, 4)
        keep = labels >= 0
        bank.append(desc[b][keep])
        bank_labels.append(torch.from_numpy(labels[keep]))
        per_image.append((seg, gt))
    bank, bank_labels = torch.cat(bank), torch.cat(bank_labels)
    conf = np.zeros((4, 4), np.int64)
    for b, (seg, gt) in enumerate(per_image):
        pred = nearest_labels(desc[b], bank, bank_labels).numpy()[seg]
        conf += confusion(pred, gt, 4)
    miou, iou = mean_iou(conf)
    assert miou == 100.0


def test_majority_labels_and_miou_hand_values():
    seg = np.array([[0, 0, 1], [0, 1, 1]])
    gt = np.array([[2, 2, 1], [255, 2, 1]])
    assert majority_labels(seg, gt, 3, 3).tolist() == [2, 1, -1]
    conf = confusion(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    miou, iou = mean_iou(conf)
    assert iou.tolist() == [1.0, 0.5, 0.5] and miou == pytest.approx(200 / 3)


def test_segment_retrieval_tool_end_to_end(ckpts, demo_root, tmp_path):
    import segment_retrieval
    import summarize
    out = segment_retrieval.main([ckpts['resnet'], '--data-root',
                                  osp.join(demo_root, 'VOCdevkit', 'VOC2012'), '--img-size', '96',
                                  '--out-dir', str(tmp_path), '--device', 'cpu'])
    assert 0 <= out['metrics']['mIoU'] <= 100 and out['num_train_segments'] > 8
    assert osp.isfile(tmp_path / 'retrieval.png')
    again = segment_retrieval.main([ckpts['resnet'], '--data-root',
                                    osp.join(demo_root, 'VOCdevkit', 'VOC2012'), '--img-size',
                                    '96', '--out-dir', str(tmp_path / 'b'), '--batch-size', '3'])
    assert again['metrics'] == out['metrics']  # seeded per image: batch size does not matter
    assert 'voc12_segment_retrieval' in summarize.main([str(tmp_path), '--no-paper'])


# ----------------------------------------------------------------------------- SVM
def test_stratified_folds_and_ap_hand_values():
    y = np.array([1, 1, 1, 1, -1, -1, -1, -1, -1, -1])
    assert stratified_folds(y, 3).tolist() == [0, 0, 1, 2, 0, 0, 1, 1, 2, 2]
    s, pos = np.array([.9, .8, .7, .6]), np.array([1, 0, 1, 0], bool)
    assert average_precision(s, pos) == pytest.approx(.5 + .5 * 2 / 3)
    assert interpolated_ap(s, pos) == pytest.approx(.5 + .5 * 2 / 3)
    assert average_precision(np.array([.5, .5]), np.array([1, 0], bool)) == pytest.approx(.5)


def test_svm_matches_a_brute_force_minimiser():
    """1-D features: the fitted (w, b) against a grid search of the squared-hinge objective
    (|w|^2 + b^2) / 2 + C * sum_i c_i max(0, 1 - y_i (w x_i + b))^2, c_i = 2 for positives."""
    torch.manual_seed(0)
    xs = torch.cat([torch.randn(20) + 1, torch.randn(20) - 1]).double()
    ys = torch.cat([torch.ones(20), -torch.ones(20)]).double()
    c = 0.3
    w, b = fit_svm(xs[:, None], ys[:, None], torch.tensor([c]))

    def objective(wv, bv):
        margin = (1 - ys * (xs * wv[..., None] + bv[..., None])).clamp(min=0) ** 2
        return (wv ** 2 + bv ** 2) / 2 + c * (torch.where(ys > 0, 2.0, 1.0) * margin).sum(-1)
    ws = torch.linspace(-3, 3, 601).double()
    grid = objective(ws[:, None], ws[None, :])
    i, j = divmod(int(grid.argmin()), grid.shape[1])
    assert abs(float(w) - float(ws[i])) <= 0.011 and abs(float(b) - float(ws[j])) <= 0.011
    assert float(objective(w[0, 0], b[0])) <= float(grid.min()) + 1e-9


@pytest.mark.slow  # 26 costs x 3 folds of L-BFGS fits: ~20 s on a shared CPU
def test_feature_probe_svm_end_to_end(ckpts, tmp_path):
    import feature_probe
    from densepre.demo import make_demo_data
    root = make_demo_data(str(tmp_path / 'demo'), num_pretrain=1, num_seg_train=1,
                          num_seg_val=1, num_det_train=24, num_det_val=12, image_size=48)
    out = feature_probe.main([ckpts['resnet'], '--data-root', root['voc2007'], '--classifier',
                              'svm', '--protocol', 'probe', '--img-size', '64', '--workers', '0',
                              '--out-dir',
                              str(tmp_path / 'svm')])
    assert out['benchmark'] == 'feature_probe_voc07_svm'
    assert 0 <= out['metrics']['mAP'] <= 100 and out['metrics']['num_scored_classes'] >= 1
    assert len(out['cost_search']) == 4 and len(out['cost_search'][0]['cv_AP']) == 26
    with open(tmp_path / 'svm' / 'metrics.json') as f:
        assert json.load(f)['metrics'] == out['metrics']


def test_cam_tool_end_to_end(ckpts, demo_root, tmp_path):
    import cam
    imagenet = osp.join(demo_root, 'imagenet')
    out = cam.main([ckpts['resnet'], '--fit-ann', 'meta/train.txt', '--data-root', imagenet,
                    '--img-prefix', 'train', '--num', '6', '--img-size', '64', '--out-dir',
                    str(tmp_path / 'fit')])
    grid = np.array(Image.open(out['grid']))
    assert grid.shape == (2 * 64, 4 * 128, 3)  # 6 tiles (image | CAM) in rows of 4
    assert out['cams'].shape == (6, 64, 64)
    assert float(out['cams'].amin()) == 0 and float(out['cams'].amax()) == pytest.approx(1)
    # a linear-probe checkpoint of this frozen backbone: its head.fc is used
    state = torch.load(ckpts['resnet'], weights_only=False)['state_dict']
    probe = {k: v for k, v in state.items() if k.startswith('backbone.')}
    probe['head.fc.weight'], probe['head.fc.bias'] = torch.randn(4, 512), torch.zeros(4)
    torch.save({'state_dict': probe, 'meta': {'dataset_meta': {'classes': list('abcd')}}},
               tmp_path / 'probe.pth')
    out = cam.main([ckpts['resnet'], '--classifier', str(tmp_path / 'probe.pth'), '--ann',
                    'meta/train.txt', '--data-root', imagenet, '--img-prefix', 'train', '--num',
                    '4', '--img-size', '64', '--out-dir', str(tmp_path / 'probe')])
    assert len(out['records']) == 4
    probe['backbone.conv1.weight'] = probe['backbone.conv1.weight'] + 1
    torch.save({'state_dict': probe}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='backbone tensors differ'):
        cam.main([ckpts['resnet'], '--classifier', str(tmp_path / 'other.pth'), '--ann',
                  'meta/train.txt', '--data-root', imagenet, '--img-prefix', 'train'])


def test_label_propagation_benchmark_runs(tmp_path):
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    import benchmark_label_propagation as blp
    res = blp.main(['--frames', '3', '--height', '48', '--width', '80', '--repeats', '1',
                    '--json', str(tmp_path / 'b.json')])
    assert res['same_argmax'] and res['max_abs_diff'] < 1e-5
    assert res['feature_grid'] == [6, 10] and res['channels'] == 2048
    assert res['frames_per_s'] > 0 and res['dense_over_tiled'] > 0


def test_davis_tool_names_a_missing_annotation_before_any_work(davis_root, tmp_path):
    import shutil

    import davis_propagation
    root = tmp_path / 'DAVIS'
    shutil.copytree(davis_root, root)
    seq = open(root / 'ImageSets' / '2017' / 'val.txt').read().split()[-1]
    os.remove(root / 'Annotations' / '480p' / seq / '00003.png')
    with pytest.raises(FileNotFoundError, match=f'{seq}: 1 of 6 annotations missing.*00003.png'):
        davis_propagation.main(['no-such-checkpoint.pth', '--data-root', str(root)])


def test_frozen_tools_read_each_checkpoint_once(ckpts, tmp_path, monkeypatch):
    """Issue 20: the frozen evaluations read a checkpoint once, weights-only (the ViT's heads
    come from the meta of that one read; the CAM classifier's class names likewise)."""
    import cam
    from densepre.engine import checkpoint_io
    from densepre.evaluation.frozen_backbone import load_frozen_backbone
    calls = []
    real = checkpoint_io.read_checkpoint

    def counting(path, *args, **kwargs):
        calls.append((str(path), kwargs.get('trust', False)))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_io, 'read_checkpoint', counting)
    backbone = load_frozen_backbone(ckpts['vit'], log=lambda msg: None)
    assert calls == [(ckpts['vit'], False)]
    assert 'heads 2' in backbone.description or '2 heads' in backbone.description
    calls.clear()
    state = real(ckpts['resnet'])['state_dict']
    probe = {k: v for k, v in state.items() if k.startswith('backbone.')}
    probe['head.fc.weight'], probe['head.fc.bias'] = torch.randn(3, 512), torch.zeros(3)
    torch.save({'state_dict': probe, 'meta': {'dataset_meta': {'classes': list('abc')}}},
               tmp_path / 'probe.pth')
    backbone_state = {k: v for k, v in probe.items() if k.startswith('backbone.')}
    _, _, names = cam.classifier_from_checkpoint(str(tmp_path / 'probe.pth'), backbone_state)
    assert names == list('abc') and calls == [(str(tmp_path / 'probe.pth'), False)]
