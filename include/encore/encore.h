#pragma once

/// \file
/// Everything public in one include.

#include "encore/arg.h"
#include "encore/buffer.h"
#include "encore/collective.h"
#include "encore/device.h"
#include "encore/encoder.h"
#include "encore/error.h"
#include "encore/fence.h"
#include "encore/kernel.h"
#include "encore/launch.h"
#include "encore/options.h"
#include "encore/passes.h"
#include "encore/profile.h"
#include "encore/recording.h"
#include "encore/stats.h"
#include "encore/submission.h"
#include "encore/types.h"
