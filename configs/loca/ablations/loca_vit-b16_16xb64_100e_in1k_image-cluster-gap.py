# LOCA Table 6b "Image (GAP)": image-level instead of patch-level clustering — one cluster target
# per image (the teacher's reference tokens averaged), predicted by every query from its averaged
# tokens; the position loss is unchanged.
_base_ = '../loca_vit-b16_16xb64_100e_in1k.py'

model = dict(cluster_level='image_gap')
