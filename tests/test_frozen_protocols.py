"""Issue 19, frozen evaluations: DAVIS on videowalk's C4 features with void propagated, the fair
self-supervision benchmark's VOC07 SVM protocol, and Table 6's 7-class segment retrieval with
MaskContrast's vote -- each against a hand-computed case or an independent transcription."""
import os.path as osp

import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def r18_checkpoint(path):
    from densepre.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(dict(type='ResNet', depth=18))
    model.init_weights()
    for m in model.modules():  # non-trivial BN statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in model.state_dict().items()}},
               path)
    return str(path), model


# ----------------------------------------------------------------------------- DAVIS
def test_davis_default_features_are_videowalks_c4(tmp_path):
    """videowalk: torchvision ResNet, every conv of layer3 / layer4 at stride 1 (no dilation),
    layer4 removed (--remove-layers layer4). Our transcription on torchvision's ResNet-18 with the
    same weights equals the tool's default backbone; the c5 option is layer4, dilated."""
    import davis_propagation
    import torchvision

    from densepre.evaluation import load_frozen_backbone
    path, model = r18_checkpoint(tmp_path / 'r18.pth')
    args = davis_propagation.parse_args([path])
    assert args.features == 'c4' and args.void == 'propagate'
    strides, dilations, stage = davis_propagation.resnet_layout(args)
    backbone = load_frozen_backbone(path, strides, dilations, stage, log=lambda m: None)
    ref = torchvision.models.resnet18()
    ref.load_state_dict({k: v for k, v in model.state_dict().items()
                         if not k.endswith('num_batches_tracked')}, strict=False)
    for m in ref.layer3.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.stride = (1, 1)
    ref.eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = ref.layer3(ref.layer2(ref.layer1(ref.maxpool(ref.relu(ref.bn1(ref.conv1(x)))))))
    got = backbone(x)
    assert got.shape == (1, 256, 8, 12) and backbone.stride == 8
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    c5 = davis_propagation.resnet_layout(davis_propagation.parse_args([path, '--features', 'c5']))
    assert c5 == ((1, 2, 1, 1), (1, 1, 2, 4), 4)


def test_void_in_the_first_frame_is_propagated_as_a_label():
    """Hand case: a 2x2 grid (one cell per feature position) of object 1, background and void;
    a static video keeps every label, void included (videowalk's label set = every colour of the
    first annotation); 'ignore' (the old behaviour) turned the void cell into background."""
    import davis_propagation as dp

    from densepre.evaluation.label_propagation import propagate_labels
    mask = np.array([[1, 0], [255, 0]], np.uint8)
    ids, soft = dp.first_frame_labels(mask, (2, 2))
    assert ids.tolist() == [0, 1, 255]
    assert soft[:, 1, 0].tolist() == [0, 0, 1]  # the void cell: one-hot on label 255
    feats = torch.eye(4).reshape(4, 2, 2)[None].repeat(3, 1, 1, 1)  # distinct, static
    out = propagate_labels(feats, soft, topk=1, temperature=0.05, context=2, radius=3)
    masks = dp.labels_to_masks(out, ids, (2, 2))
    assert masks[2].tolist() == [[1, 0], [255, 0]]
    ids, soft = dp.first_frame_labels(mask, (2, 2), 'ignore')
    assert ids.tolist() == [0, 1] and soft[:, 1, 0].tolist() == [0, 0]


def test_davis_tool_refuses_void_on_request(tmp_path):
    import davis_propagation

    from densepre.demo import make_demo_davis
    from PIL import Image
    root = make_demo_davis(str(tmp_path / 'DAVIS'), num_train=1, num_val=1, num_frames=3,
                           height=32, width=32)['root']
    seq = open(osp.join(root, 'ImageSets', '2017', 'val.txt')).read().split()[0]
    ann = osp.join(root, 'Annotations', '480p', seq, '00000.png')
    img = Image.open(ann)
    arr = np.array(img)
    arr[0, :3] = 255
    voids = int((arr == 255).sum())
    out = Image.fromarray(arr, mode='P')
    out.putpalette(img.getpalette())
    out.save(ann)
    path, _ = r18_checkpoint(tmp_path / 'r18.pth')
    with pytest.raises(ValueError, match=f'{voids} void'):
        davis_propagation.main([path, '--data-root', root, '--out-dir', str(tmp_path / 'o'),
                                '--void', 'refuse', '--device', 'cpu'])
    out = davis_propagation.main([path, '--data-root', root, '--out-dir', str(tmp_path / 'o'),
                                  '--device', 'cpu'])
    assert out['settings']['features'] == 'c4' and out['settings']['void'] == 'propagate'
    assert out['feature_stride'] == 8 and 'stage 3' in out['backbone']


# ----------------------------------------------------------------------------- VOC07 SVM
def test_fair_folds_number_classes_by_first_appearance():
    """sklearn >= 0.22 StratifiedKFold(3) on y = [1,-1,1,-1,1,-1,1,-1], by hand: classes by first
    appearance (1 -> 0, -1 -> 1); round robin over the sorted codes allocates (2,1,1) of class 0
    and (1,2,1) of class 1 to folds 0,1,2; each class takes its folds in blocks."""
    from densepre.evaluation.linear_svm import stratified_folds
    y = np.array([1, -1, 1, -1, 1, -1, 1, -1])
    assert stratified_folds(y, 3, 'appearance').tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert stratified_folds(y, 3, 'sorted').tolist() == [0, 0, 1, 0, 1, 1, 2, 2]


def test_fair_protocol_trains_on_difficult_images_as_negatives():
    """fair: a difficult (0) trainval label is exactly a negative (-1); probe: it is left out."""
    from densepre.evaluation.linear_svm import svm_protocol
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 5, generator=g)
    y = torch.where(x[:, :2] > 0, 1, -1).to(torch.int8)
    y[[1, 4, 9], 0] = 0  # difficult
    xt = torch.randn(12, 5, generator=g)
    yt = torch.where(xt[:, :2] > 0, 1, -1).to(torch.int8)
    costs = (0.01, 1.0)
    fair, _ = svm_protocol(x, y, xt, yt, costs=costs, protocol='fair')
    as_negative = torch.where(y == 0, -1, y).to(torch.int8)
    same, _ = svm_protocol(x, as_negative, xt, yt, costs=costs, protocol='fair')
    assert fair == same
    with pytest.raises(ValueError, match='protocol'):
        svm_protocol(x, y, xt, yt, costs=costs, protocol='voc')


def test_fair_features_and_split(tmp_path):
    """res5 of a 224 input (7 x 7) average-pooled 6 x 6 at stride 1 -> 2 x 2 cells; inputs
    squashed to 224 x 224; trainval = the class files' images sorted by name."""
    import cv2
    import feature_probe as fp
    c5 = torch.arange(49, dtype=torch.float64).view(1, 1, 7, 7)
    # window (0,0) covers rows 0-5, cols 0-5: mean of 7r + c = 7 * 2.5 + 2.5 = 20
    assert fp.pool_features(c5, 'res5_6x6').tolist() == [[20.0, 21.0, 27.0, 28.0]]
    assert fp.pool_features(c5, 'gap').tolist() == [[24.0]]
    img = np.random.default_rng(0).integers(0, 255, (300, 200, 3), np.uint8)
    cv2.imwrite(str(tmp_path / 'a.jpg'), img)
    assert fp.SquashedImageFiles([str(tmp_path / 'a.jpg')], 224)[0].shape == (3, 224, 224)
    main = tmp_path / 'VOC2007' / 'ImageSets' / 'Main'
    main.mkdir(parents=True)
    (main / 'cat_trainval.txt').write_text('000012 -1\n000005  1\n000009  0\n')
    (main / 'dog_trainval.txt').write_text('000012  1\n000005 -1\n000009 -1\n')
    paths, labels = fp.voc07_fair_split(str(tmp_path / 'VOC2007'), 'trainval', ['cat', 'dog'])
    assert [osp.basename(p) for p in paths] == ['000005.jpg', '000009.jpg', '000012.jpg']
    assert labels.tolist() == [[1, -1], [0, -1], [-1, 1]]


@pytest.mark.slow
def test_feature_probe_svm_fair_end_to_end(tmp_path):
    """~30 s on one core: 26 costs x 3 folds of 2048-d SVMs."""
    import feature_probe

    from densepre.demo import make_demo_data
    root = make_demo_data(str(tmp_path / 'demo'), num_pretrain=1, num_seg_train=1,
                          num_seg_val=1, num_det_train=24, num_det_val=12, image_size=48)
    path, _ = r18_checkpoint(tmp_path / 'r18.pth')
    out = feature_probe.main([path, '--classifier', 'svm', '--data-root', root['voc2007'],
                              '--out-dir', str(tmp_path / 'o'), '--device', 'cpu',
                              '--workers', '0'])
    assert out['protocol'] == 'fair' and out['feature_dim'] == 512 * 4
    assert 0 <= out['metrics']['mAP'] <= 100


# ----------------------------------------------------------------------------- retrieval
def test_maskcontrast_vote_and_seven_classes_by_hand():
    from densepre.evaluation.segment_retrieval import (SEVEN_CLASSES, keep_classes,
                                                       majority_labels, mean_iou_of)
    # 3 segments over 8 pixels; gt: 0 background, 15 person, 2 bicycle, 255 void
    seg = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    gt = np.array([0, 0, 15, 2, 15, 255, 0, 255])
    assert majority_labels(seg, gt, 3, 21).tolist() == [0, 2, 0]  # ties: smaller id
    assert majority_labels(seg, gt, 3, 21, vote='maskcontrast').tolist() == [15, 15, -1]
    seven = keep_classes(gt, SEVEN_CLASSES)
    assert seven.tolist() == [0, 0, 15, 255, 15, 255, 0, 255]  # bicycle is not among the 7
    assert majority_labels(seg, seven, 3, 21, vote='maskcontrast').tolist() == [15, 15, -1]
    # mean over the 7 classes only, background excluded, absent classes count 0
    conf = np.zeros((21, 21), np.int64)
    conf[15, 15], conf[0, 15], conf[1, 1], conf[1, 0] = 3, 1, 2, 2
    assert mean_iou_of(conf, SEVEN_CLASSES) == pytest.approx(100 * (0.75 + 0.5) / 7)


def test_segment_retrieval_tool_reports_both_columns(demo_root, tmp_path):
    import segment_retrieval
    path, _ = r18_checkpoint(tmp_path / 'r18.pth')
    voc = f'{demo_root}/VOCdevkit/VOC2012'
    base = [path, '--data-root', voc, '--img-size', '64', '--device', 'cpu']
    out = segment_retrieval.main(base + ['--out-dir', str(tmp_path / 'a')])
    assert set(out['metrics']) == {'mIoU', 'mIoU_7cls'} and out['settings']['vote'] == 'majority'
    out = segment_retrieval.main(base + ['--vote', 'maskcontrast', '--out-dir',
                                         str(tmp_path / 'b')])
    assert out['settings']['vote'] == 'maskcontrast'
    assert 0 <= out['metrics']['mIoU_7cls'] <= 100
