from .batch_infonce import BatchInfoNCELoss, gather_with_local_grad

__all__ = ['BatchInfoNCELoss', 'gather_with_local_grad']
