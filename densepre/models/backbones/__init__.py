from .loca_vit import LOCAViT

__all__ = ['LOCAViT']
