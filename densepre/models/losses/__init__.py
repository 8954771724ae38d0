from .batch_infonce import BatchInfoNCELoss, gather_with_local_grad
from .context_ranking import ContextRankingLoss

__all__ = ['ContextRankingLoss', 'BatchInfoNCELoss', 'gather_with_local_grad']
