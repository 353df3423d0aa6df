"""Camera-pose refinement: by gradient during training, and by Gauss-Newton alignment passes.

Each training camera gets a learnable correction ``delta = (w, v)`` in se(3), applied in the
camera's own frame: ``R' = R Exp(w)``, ``t' = t + R v`` (``w`` in radians, ``v`` in scene units),
zero at the start.

How the gradient reaches the pose. The projector's z-buffer picks integer point indices, which
carry no gradient. The pose instead acts through *image-space flow*: every pixel showing point i
(layer 0) knows where that point projects under the corrected pose, ``u_i(delta)``, a smooth
function of the pose. The rendered image is moved by the flow ``f = u_i - stop_grad(u_i)``, to
first order: ``I'(x) = I(x) - f(x) . grad I(x)`` (central differences, held constant). In the
forward pass ``f = 0`` and ``I' = I`` exactly; in the backward pass
``dL/d delta = -sum_x dL/dI'(x) . grad I(x) . du_i/d delta``, the photometric-alignment gradient of direct image alignment: moving the camera moves the points'
footprints, and the image gradient says whether that agrees with the photos. Silhouettes (the
alpha loss) and texture both pull. Pixels without a point (background) give no pose gradient.

What the images pin down slowly: turning a camera about its x or y axis by ``w`` and sliding it
sideways by ``d w`` (``d`` the scene's depth) move the image almost alike; only parallax between
near and far points tells them apart, so the error left after training lies along that direction
and shrinks slowly under Adam's per-coordinate steps (``benchmarks/bench_poses.py``). The pose
rate therefore decays slowly (SOLVER.POSE_LR_END_FACTOR,
``npcr.engine.optim.build_pose_lr_scheduler``), and every few epochs an alignment pass
(``align_poses``, SOLVER.POSE_ALIGN_*) solves each camera's 6 x 6 Gauss-Newton system of the same
flow model against the current model's render, which takes the weak direction in one step with
the strong ones. It starts once the model renders the scene (an untrained model leads the cameras
astray).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..geometry import Cameras, rotation_exp, rotation_log


class CameraPoses(nn.Module):
    """Learnable pose corrections of ``num_cameras`` cameras."""

    def __init__(self, num_cameras: int):
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(num_cameras, 6))

    def forward(self, camera_ids: torch.Tensor, cam_to_world: torch.Tensor) -> torch.Tensor:
        """Corrected (B, 4, 4) camera-to-world of cameras ``camera_ids`` (B,) given theirs."""
        return corrected(cam_to_world, self.delta[camera_ids])

    @torch.no_grad()
    def set_poses(self, camera_ids: list[int], cam_to_world: torch.Tensor,
                  moved: torch.Tensor) -> None:
        """Set the corrections of cameras ``camera_ids`` so that their poses ``cam_to_world``
        (B, 4, 4) become ``moved`` (B, 4, 4)."""
        base, moved = cam_to_world.detach().cpu().double().numpy(), moved.cpu().double().numpy()
        for b, cam in enumerate(camera_ids):
            R = base[b, :3, :3]
            delta = np.concatenate([rotation_log(R.T @ moved[b, :3, :3]),
                                    R.T @ (moved[b, :3, 3] - base[b, :3, 3])])
            self.delta[cam] = torch.as_tensor(delta, dtype=self.delta.dtype)

    @torch.no_grad()
    def apply(self, cam_to_world: torch.Tensor) -> torch.Tensor:
        """All cameras' corrected poses (M, 4, 4) given theirs (M, 4, 4)."""
        return self(torch.arange(len(self.delta), device=self.delta.device), cam_to_world)


def rig_motion(cam_to_world: np.ndarray, reference: np.ndarray, ids: list[int],
               centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The motion common to cameras ``ids`` of ``cam_to_world`` (M, 4, 4) against ``reference``
    (M, 4, 4): the mean over them of the world-frame motion taking each reference pose to its
    pose, about ``centre`` (3,), as a rotation vector (radians) and a translation (small-angle
    mean)."""
    rotations, shifts = [], []
    for i in ids:
        R = cam_to_world[i, :3, :3] @ reference[i, :3, :3].T
        rotations.append(rotation_log(R))
        shifts.append(cam_to_world[i, :3, 3] - centre - R @ (reference[i, :3, 3] - centre))
    return np.mean(rotations, 0), np.mean(shifts, 0)


def without_rig_motion(cam_to_world: np.ndarray, reference: np.ndarray, ids: list[int],
                       centre: np.ndarray) -> np.ndarray:
    """``cam_to_world`` with the motion common to cameras ``ids`` (``rig_motion``) undone: what
    is left of each camera's difference from ``reference`` is its own, and the rig as a whole
    stays where ``reference`` has it."""
    w, t = rig_motion(cam_to_world, reference, ids, centre)
    back = rotation_exp(-w)
    out = cam_to_world.copy()
    for i in ids:
        out[i, :3, :3] = back @ cam_to_world[i, :3, :3]
        out[i, :3, 3] = back @ (cam_to_world[i, :3, 3] - centre - t) + centre
    return out


def corrected(cam_to_world: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Camera-to-world (B, 4, 4) ``cam_to_world`` corrected by ``delta`` (B, 6), in the camera's
    own frame: ``R' = R Exp(w)``, ``t' = t + R v``."""
    R, t = cam_to_world[:, :3, :3], cam_to_world[:, :3, 3]
    out = cam_to_world.clone()
    out[:, :3, :3] = R @ rotation_exp(delta[:, :3])
    out[:, :3, 3] = t + (R @ delta[:, 3:, None])[..., 0]
    return out


def flow_jacobian(points: torch.Tensor, cameras: Cameras) -> torch.Tensor:
    """(B, ..., 2, 6): how the pixel where camera b sees ``points[b]`` (B, ..., 3) moves with a
    correction ``delta`` of its pose, at ``delta = 0`` (forward-mode, one column per
    coordinate)."""
    zero = cameras.cam_to_world.new_zeros(len(cameras), 6)

    def pixels(delta: torch.Tensor) -> torch.Tensor:
        return cameras.with_poses(corrected(cameras.cam_to_world, delta)).project(
            points, min_depth=1e-6)[0]

    basis = torch.eye(6, dtype=zero.dtype, device=zero.device)
    return torch.stack([torch.func.jvp(pixels, (zero,), (basis[k].expand_as(zero),))[1]
                        for k in range(6)], -1)


def flow_to_pose(image: torch.Tensor, X: torch.Tensor, valid: torch.Tensor,
                 cameras: Cameras) -> torch.Tensor:
    """``image`` (B, C, H, W) moved by the zero flow of the module docstring, so that its
    gradient reaches the ``cameras``' ``cam_to_world`` (B, 4, 4). ``X`` (B, H, W, 3) is the world
    position of the point each pixel shows (layer 0) where ``valid`` (B, H, W)."""
    uv, _ = cameras.project(X, min_depth=1e-6)
    flow = torch.where(valid[..., None], uv - uv.detach(), torch.zeros_like(uv)).to(image.dtype)
    gx, gy = image_gradient(image.detach())
    return image - (flow[..., 0][:, None] * gx + flow[..., 1][:, None] * gy)


def image_gradient(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences (B, C, H, W) along x and y (one-sided at the border)."""
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    gx = (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]) / 2
    gy = (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]) / 2
    return gx, gy


def _pool(x: torch.Tensor, scale: int) -> torch.Tensor:
    return F.avg_pool2d(x, scale) if scale > 1 else x


@torch.no_grad()
def align_poses(render: Callable[[Cameras], dict], photos: torch.Tensor, valid: torch.Tensor,
                cameras: Cameras, scales: tuple[int, ...] = (4, 2, 1), iterations: int = 2,
                channel_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0),
                huber: float = 0.05, max_flow: float = 1.0) -> torch.Tensor:
    """Camera-to-world (B, 4, 4) of the ``cameras`` moved so that ``render(cameras)`` (a dict
    with ``rgb``, ``alpha``, ``surface``, ``covered``: ``PointRenderer(..., surface=True)``) best
    matches ``photos`` (B, 4, H, W: RGB and alpha) where ``valid`` (B, 1, H, W).

    Levenberg-Marquardt on the robust (Huber, ``huber``) photometric error, coarse to fine over
    the image ``scales`` (average-pooled), ``iterations`` steps each. The Jacobian is the flow
    model of the module docstring: a pixel's colour moves with the pixel where its point projects
    (``flow_jacobian``) along the render's image gradient. Each camera's 6 x 6 normal equations
    are solved whole, so the turn/slide trade that a per-coordinate optimiser crawls along gets
    the step its curvature asks for. A step is shortened to move the image by at most about
    ``max_flow`` pixels of its scale (``trust_region``) and kept only where it lowers that
    camera's error."""
    weights = photos.new_tensor(channel_weights)[None, :, None, None]
    pose = cameras.cam_to_world.clone()
    damping = pose.new_full((len(cameras),), 1e-3)

    def evaluate(pose: torch.Tensor, scale: int):
        out = render(cameras.with_poses(pose))
        rgba = _pool(torch.cat([out["rgb"], out["alpha"]], 1).float(), scale)
        residual = rgba - _pool(photos, scale)
        w = (_pool(valid.float(), scale) > 0.999).float() * weights
        cost = (w * huber_loss(residual, huber)).flatten(1).sum(1)
        return cost, residual, w, rgba, out

    for scale in scales:
        cost, residual, w, rgba, out = evaluate(pose, scale)
        for _ in range(iterations):
            du = flow_jacobian(out["surface"].float(), cameras.with_poses(pose))
            du = torch.where(out["covered"][..., None, None], du, torch.zeros_like(du))
            b, h, wd = du.shape[:3]
            du = _pool(du.reshape(b, h, wd, 12).permute(0, 3, 1, 2), scale) / scale
            du = du.reshape(b, 2, 6, *du.shape[-2:])
            gx, gy = image_gradient(rgba)
            J = -(gx[:, :, None] * du[:, None, 0] + gy[:, :, None] * du[:, None, 1])
            robust = w * (huber / residual.abs().clamp_min(huber))  # IRLS weights of the Huber loss
            H = torch.einsum("bckhw,bchw,bjchw->bkj", J, robust, J.transpose(1, 2))
            g = torch.einsum("bckhw,bchw->bk", J, robust * residual)
            diag = torch.diagonal(H, dim1=1, dim2=2)
            step = -torch.linalg.solve(H + torch.diag_embed(damping[:, None] * diag + 1e-12), g)
            step = step * trust_region(step, out, cameras.with_poses(pose), max_flow * scale)
            trial = corrected(pose, step)
            new = evaluate(trial, scale)
            better = new[0] < cost
            pose = torch.where(better[:, None, None], trial, pose)
            cost, residual, rgba = (torch.where(better.view(-1, *[1] * (a.dim() - 1)), a, o)
                                    for a, o in ((new[0], cost), (new[1], residual),
                                                 (new[3], rgba)))
            out = {k: torch.where(better.view(-1, *[1] * (v.dim() - 1)), new[4][k], v)
                   for k, v in out.items() if k in ("surface", "covered")}
            damping = torch.where(better, damping / 10, damping * 10).clamp(1e-6, 1e6)
    return pose


def trust_region(step: torch.Tensor, out: dict, cameras: Cameras, pixels: float) -> torch.Tensor:
    """(B, 1) factors that shorten pose steps (B, 6) to turns and shifts that move the image by
    at most about ``pixels``: a turn of w moves every pixel by about f w, a sideways shift of v
    by f v / z at the depth z of the surface (``out``'s covered pixels; their median). The flow
    model holds for about a pixel, and an image barely fixes some directions (a small object
    turned about the optical axis): a step must not run off along them."""
    focal = cameras.K[:, 0, 0]
    depth = cameras.project(out["surface"].float(), min_depth=1e-6)[1]
    z = torch.stack([d[c].median() if c.any() else d.new_tensor(1.0)
                     for d, c in zip(depth, out["covered"])])
    turn = step[:, :3].norm(dim=1) * focal / pixels
    shift = step[:, 3:].norm(dim=1) * focal / (z * pixels)
    return 1 / torch.maximum(torch.ones_like(turn), torch.maximum(turn, shift))[:, None]


def huber_loss(residual: torch.Tensor, delta: float) -> torch.Tensor:
    """Elementwise Huber loss: quadratic below ``delta``, linear above."""
    a = residual.abs()
    return torch.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))
