# Table 4, "+m↓": key-encoder momentum 0.999 -> 0.995 (more views per step train faster).
_base_ = './mocov2-mc-cc_r50_8xb32-coco_200e.py'

model = dict(momentum=0.005)  # MMEngine convention 1 - m: m = 0.995
