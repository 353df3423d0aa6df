"""The one yacs defaults tree. Config files (configs/*.yml) hold only differences from it."""
from yacs.config import CfgNode as CN

_C = CN()

# Where checkpoints (nr_model_<epoch>.pth, nr_optimizer_<epoch>.pth), config.yml, logs and
# TensorBoard events go.
_C.OUTPUT_DIR = "output/default"
# Seed of torch, numpy and Python's random, for reproducible runs.
_C.SEED = 0
# "auto" (CUDA when available, else CPU), "cpu" or "cuda".
_C.DEVICE = "auto"
# Continue training from the newest checkpoint in OUTPUT_DIR (epoch pair or mid-epoch resume point);
# the result is the same, bit for bit on one CPU, as a run that was never interrupted.
_C.RESUME = False
# Epoch whose checkpoint render/evaluate loads; -1 means the latest.
_C.LOAD_EPOCH = -1

_C.DATASETS = CN()
# Root of the scene (datasets/README.md): a native-layout folder, a transforms.json (or its folder),
# a COLMAP project (cameras.bin/txt in it, sparse/0 or sparse; images in images/) or a multi-camera
# video capture (pose/, intrinsic/, rgb/<frame>/, pointcloud/).
_C.DATASETS.ROOT = ""
# "auto" (detected from the files), "native", "transforms", "colmap" or "video".
_C.DATASETS.FORMAT = "auto"
# Frame (img/<frame>/, pointclouds/frame<frame+1>.txt) to train on.
_C.DATASETS.FRAME = 0
# Several frames of a sequence to train on together (overrides FRAME when not empty): the network
# is shared; point features are per frame, or shared by index (MODEL.SHARE_FEATURES).
_C.DATASETS.FRAMES = []
# Camera ids held out for validation (PSNR each epoch) and rendered by default.
_C.DATASETS.VAL_CAMERAS = []
# Camera ids held out apart from VAL_CAMERAS to choose the best checkpoint (nr_model_best.pth), so
# that the held-out PSNR of VAL_CAMERAS never chose anything (an honest figure for the best model).
# Empty: VAL_CAMERAS choose it, and its PSNR on them is optimistic.
_C.DATASETS.SELECT_CAMERAS = []
# Add points where the cloud leaves a hole inside a training photo: a region no point lands on that
# covered pixels enclose (the dark inside of a cavity, where stereo finds no depth), which would
# otherwise show what lies behind in other views. Made from the training photos each time the scene
# is loaded (npcr/capture/holes.py): just behind the farthest part of the hole's rim, coloured by
# the photo. Not with MODEL.SHARE_FEATURES (frames would differ in point count).
_C.DATASETS.FILL_HOLES = False
# Decoded (and undistorted) photos kept in memory while training (the renderer or the refine net),
# up to this many MiB per process (each DataLoader worker keeps its own); photos beyond it are
# decoded at every step, as all are with 0. Decoding at every step cost a 23-photo real capture at
# 756x1008 a sixth of its training time.
_C.DATASETS.CACHE_MB = 2048

_C.INPUT = CN()
# Image size (height, width) the network sees; [0, 0] keeps the images' own size. Intrinsics are
# scaled with the images.
_C.INPUT.SIZE = [0, 0]
# Training augmentation (NPCR trains on crops of large images): each training image is zoomed by a
# random factor in ZOOM_RANGE, then a random CROP (height, width) window is cut; the camera follows.
# [1.0, 1.0] and [0, 0] switch them off. Validation images are never augmented.
_C.INPUT.ZOOM_RANGE = [1.0, 1.0]
_C.INPUT.CROP = [0, 0]

_C.MODEL = CN()
# Learned feature channels per point.
_C.MODEL.FEATURE_DIM = 8
# Depth-peeling layers gathered per pixel (nearest point first); the network takes this many from the
# start, SOLVER.LAYER_SCHEDULE may leave the farther ones empty early in training.
_C.MODEL.NUM_LAYERS = 1
# Splat side in pixels of a point at depth NEAR; shrinks linearly to 1 at FAR.
_C.MODEL.MAX_SPLAT = 1
# Depth range (camera z) kept by the projector. 0 takes it from the points: the range their depths
# span over the dataset's cameras, with a 10% margin (tools/inspect_dataset.py prints it per camera).
_C.MODEL.NEAR = 0.0
_C.MODEL.FAR = 0.0
# Channels of the U-Net levels; each further level halves the resolution (antialiased BlurPool).
_C.MODEL.UNET_CHANNELS = [16, 32, 64, 128]
# Size of the U-Net's first convolution (odd). 1 mixes each pixel's inputs (its SUPERSAMPLE²
# samples and depth layers: a learned filter of its supersamples) before neighbouring pixels'; on
# the widest map that costs a ninth of 3.
_C.MODEL.UNET_INPUT_KERNEL = 3
# The blur-pool of the U-Nets' antialiased halving: "antialiased-cnns" (the PyPI package; licence
# CC BY-NC-SA 4.0, non-commercial use only) or "npcr" (npcr's own, MIT). Both give the same
# outputs bit for bit and have the same state-dict entries: checkpoints load into either.
_C.MODEL.BLUR_POOL = "antialiased-cnns"
# Points projected at this many times the output resolution; each pixel's SUPERSAMPLE² samples
# enter the U-Net side by side (thin strands and sub-pixel detail are not lost to one nearest point).
_C.MODEL.SUPERSAMPLE = 1
# The points are also projected at 1/2, 1/4 ... of the resolution into the U-Net's matching levels
# (NPBG, ADOP), this many levels in all (1 = the input only; at most len(UNET_CHANNELS)): coarse
# levels see a filled image where the cloud is sparse for the pixels.
_C.MODEL.POINT_LEVELS = 1
# A render from a camera whose focal length is more than this many times the training photos'
# (as the network saw them, after INPUT.SIZE) is made at that scale and upsampled: the network
# never saw the points that sparse for the pixels (a dotted outline instead of the object).
# 0 renders every size directly.
_C.MODEL.MAX_RENDER_SCALE = 2.0
# The viewing direction of each pixel (world, unit vector) enters the U-Net beside the point
# features, for appearance that changes with the view.
_C.MODEL.VIEW_DIRECTION = False
# With several frames (DATASETS.FRAMES): True shares one feature table by point index, for
# sequences whose frames hold the same points moved (equal counts, point i the same surface point
# in every frame); False gives each frame's points their own features.
_C.MODEL.SHARE_FEATURES = False
# What pixels no point covers see: [0, 0] one learned background feature; [rows, columns] a learned
# feature map over viewing directions (equirectangular, e.g. [16, 32]) for captures whose
# surroundings (sky, far trees, walls) have no points.
_C.MODEL.ENVIRONMENT = [0, 0]
# The U-Net's RGB corrects a splat of the points' colours instead of making the image alone: the
# nearest points' feature channels 0-2, read as colours the way INIT_FEATURES colors writes them
# and averaged over each pixel's supersamples, enter the output's logits. The network starts from
# the point-colour splat and learns what to change (needs FEATURE_DIM >= 3). Sharper renders
# (higher SSIM), but worse renders at other sizes than the training one (docs/results.md, "Quality on
# unseen views"): off by default.
_C.MODEL.SPLAT_SKIP = False
# How point features start: "random" (normal noise) or "colors" (channels 0-2 the points' own
# colours, which SfM, scanners and tools/process_capture.py give, the rest small noise; refused
# when the cloud has no colours).
_C.MODEL.INIT_FEATURES = "random"
# Projector backend: "auto", "torch", "cpu" or "cuda" (pcpr_ext.project).
_C.MODEL.BACKEND = "auto"
# Photos that differ in exposure and white balance (real captures; ADOP's photometric camera model,
# npcr/modeling/photometric.py): a learned correction per training photo, applied to the render
# before the loss, relative to the mean over the training photos. Renders (and held-out PSNR) are
# uncorrected; tools/render.py --photo CAMERA applies one photo's correction.
_C.MODEL.PHOTOMETRIC = CN()
# One gain per photo.
_C.MODEL.PHOTOMETRIC.EXPOSURE = False
# Three channel gains per photo (their mean is the exposure's).
_C.MODEL.PHOTOMETRIC.WHITE_BALANCE = False
# One radial falloff 1 + a r^2 + b r^4 for all photos (r in focal lengths from the principal point).
_C.MODEL.PHOTOMETRIC.VIGNETTING = False

_C.SOLVER = CN()
# Epochs to train (an epoch: every training photo once, in SOLVER.IMS_PER_BATCH batches).
_C.SOLVER.MAX_EPOCHS = 50
# What is trained: "joint" (point features and network), "features" (network frozen, e.g. for a new
# point cloud with a trained network) or "network" (features frozen).
_C.SOLVER.TRAIN = "joint"
# Learning rate of the network (AdamW; fused kernels on CUDA).
_C.SOLVER.BASE_LR = 1e-3
# Learning rate of the per-point features and the background feature.
_C.SOLVER.FEATURE_LR = 1e-2
# Learning rate of the photometric corrections (MODEL.PHOTOMETRIC).
_C.SOLVER.PHOTOMETRIC_LR = 1e-3
_C.SOLVER.WEIGHT_DECAY = 0.0
# Renders (held-out PSNR, checkpoints, the best model) use an exponential moving average of the
# trained weights, updated after each iteration with this momentum (0.02: about the last 50
# iterations; 0 = off, the trained weights themselves). npcr/engine/averaging.py.
_C.SOLVER.EMA_MOMENTUM = 0.0
# Camera-pose refinement (npcr/modeling/poses.py): a learned se(3) correction per training camera
# at POSE_LR (0 = off), from epoch POSE_START_EPOCH on (the features settle first). Refined poses
# are written to OUTPUT_DIR/refined_poses/CamPose.inf.
_C.SOLVER.POSE_LR = 0.0
_C.SOLVER.POSE_START_EPOCH = 5
# The pose rate decays exponentially from POSE_LR (at POSE_START_EPOCH) to POSE_LR_END_FACTOR x
# POSE_LR at the last iteration; 1 keeps it constant.
_C.SOLVER.POSE_LR_END_FACTOR = 0.1
# Every POSE_ALIGN_PERIOD epochs (0 = off) from epoch POSE_ALIGN_START_EPOCH on, each training
# camera is aligned to its photo by the current model: POSE_ALIGN_ITERATIONS Gauss-Newton steps at
# each of the image scales POSE_ALIGN_SCALES (npcr.modeling.poses.align_poses). On its own
# (POSE_LR 0) or beside the gradient steps.
_C.SOLVER.POSE_ALIGN_PERIOD = 0
_C.SOLVER.POSE_ALIGN_START_EPOCH = 10
_C.SOLVER.POSE_ALIGN_ITERATIONS = 2
_C.SOLVER.POSE_ALIGN_SCALES = [1]
# Keep the training cameras where they were given as a whole: after every epoch the motion common
# to all their corrections (one rigid motion of the whole rig about the cloud's centre) is undone,
# and each camera is corrected only against the others. SfM's points and cameras agree as a whole,
# while a learned renderer absorbs a whole-rig motion as a shift of its images and refinement
# drifts along it; leave it off where the rig as a whole may be off the points.
_C.SOLVER.POSE_KEEP_RIG = False
# Mixed precision with torch.amp: "auto" (float16 + GradScaler on CUDA, off on the CPU), "off",
# "fp16" (CUDA only) or "bf16".
_C.SOLVER.AMP = "auto"
# torch.compile the U-Net for training: "off" or a torch.compile mode ("default", "reduce-overhead",
# "max-autotune"). The first iterations (and each new image size) pay the compilation.
_C.SOLVER.COMPILE = "off"
# Learning-rate schedule over all iterations: "none" or "cosine" (to LR_MIN_FACTOR x the start).
_C.SOLVER.LR_SCHEDULER = "none"
_C.SOLVER.LR_MIN_FACTOR = 0.05
# Depth-peeling layers in use by epoch, [[epoch, layers], ...] ascending (NPCR: start with one layer,
# add layers later), e.g. [[0, 1], [20, 2], [40, 4]]; empty uses MODEL.NUM_LAYERS throughout.
_C.SOLVER.LAYER_SCHEDULE = []
# Images per iteration over all processes (torchrun --nproc_per_node N splits it among them).
_C.SOLVER.IMS_PER_BATCH = 1
# Save a checkpoint pair every this many epochs (and after the last epoch).
_C.SOLVER.CHECKPOINT_PERIOD = 10
# Every this many iterations a resume point (nr_resume_<iteration>.pth, only the newest kept, removed
# when training completes) so RESUME after a crash or kill continues mid-epoch; 0 switches it off.
_C.SOLVER.CHECKPOINT_ITERS = 500
# Keep only the newest this many checkpoint pairs; 0 keeps them all.
_C.SOLVER.KEEP_CHECKPOINTS = 0
# Loss = RGB_WEIGHT * L1(rgb) + ALPHA_WEIGHT * L1(alpha) + SSIM_WEIGHT * (1 - SSIM(rgb))
# (+ the perceptual term below).
_C.SOLVER.RGB_WEIGHT = 1.0
_C.SOLVER.ALPHA_WEIGHT = 1.0
_C.SOLVER.SSIM_WEIGHT = 0.0
# Optional VGG-16 perceptual loss, + VGG_WEIGHT * mean L1 of relu1_2..relu4_3 activations. Weights
# are read from VGG_WEIGHTS (torchvision's vgg16-397923af.pth), "" meaning torch hub's cache; they
# are never downloaded, a missing file is an error.
_C.SOLVER.VGG_WEIGHT = 0.0
_C.SOLVER.VGG_WEIGHTS = ""
# DataLoader worker processes.
_C.SOLVER.NUM_WORKERS = 0

_C.TEST = CN()
# Evaluate held-out PSNR every this many epochs (and after the last epoch).
_C.TEST.EVAL_PERIOD = 1
# Every this many iterations (and at the end) a preview of the first held-out camera, prediction |
# ground truth | alpha | layer-0 depth, goes to TensorBoard and OUTPUT_DIR/previews/.
_C.TEST.IMAGE_PERIOD = 200
# After training, the held-out PSNR of the non-learned baselines goes to metrics.json beside the
# model's: the training photos' mean colour and a splat of one colour per point fitted to them
# (seconds at small sizes; about a minute for 20 photos at 1008x756 on 2 CPU cores, where a timing
# benchmark may switch it off).
_C.TEST.BASELINES = True

_C.REFINE = CN()
# The temporal refine net (tools/refine.py): blends each rendered frame with the NUM_PREV previous
# outputs reprojected into its view by the rendered layer-0 depth.
_C.REFINE.NUM_PREV = 2
# Channels of its antialiased U-Net levels.
_C.REFINE.CHANNELS = [16, 32, 64]
# Least weight the current render keeps in the blend (history fades by 1 - this per frame, so the
# output cannot drift from the renders along a long path).
_C.REFINE.MIN_CURRENT_WEIGHT = 0.25
# A reprojected pixel counts where the previous depth agrees within this fraction of the depth.
_C.REFINE.DEPTH_TOLERANCE = 0.03
# Training sequences: SEQUENCE_LENGTH cameras approaching a training camera from the side of one
# of its NEIGHBOURS nearest training cameras, each step a fraction in STEP_RANGE of the distance
# to it (cover the steps of the paths you will render: a 120-frame orbit of the demo scene steps
# 0.4 of its camera gap). Longer sequences teach the net not to drift from the renders.
_C.REFINE.SEQUENCE_LENGTH = 5
_C.REFINE.NEIGHBOURS = 2
_C.REFINE.STEP_RANGE = [0.1, 0.4]
# Loss = L1(refined RGBA of the training camera, photo)
#      + CONTENT_WEIGHT * L1 between each refined frame and its raw render (no drift)
#      + TEMPORAL_WEIGHT * masked L1 between each refined frame and the previous refined frame
#        warped into it (no flicker).
_C.REFINE.CONTENT_WEIGHT = 1.0
_C.REFINE.TEMPORAL_WEIGHT = 1.0
_C.REFINE.LR = 1e-3
_C.REFINE.MAX_EPOCHS = 10
# Checkpoint refine/refine_model_<epoch>.pth (+ refine_optimizer_<epoch>.pth) every this many epochs.
_C.REFINE.CHECKPOINT_PERIOD = 5


def get_cfg_defaults() -> CN:
    """A fresh, mutable copy of the defaults."""
    return _C.clone()
