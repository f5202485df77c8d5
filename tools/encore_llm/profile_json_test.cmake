# encore-llm --tp 2 --profile dispatch --json on the CPU backend: the JSON's profile covers the
# decode steps, and its Collective row counts the two all_reduces of every layer of every step.
#   cmake -DENCORE_LLM=<encore-llm> -DJSON=<file> -P profile_json_test.cmake
set(tokens 6)
execute_process(
  COMMAND ${ENCORE_LLM} --backend cpu --shape tiny --seed 1 --prompt 1,2,3 --tokens ${tokens}
          --warmup 1 --quiet --bandwidth-mib 8 --tp 2 --profile dispatch --json ${JSON}
  RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "encore-llm failed (${status}):\n${out}${err}")
endif()
file(READ ${JSON} json)
string(JSON steps GET "${json}" profile steps)
string(JSON layers GET "${json}" config layers)
if(NOT steps EQUAL tokens)
  message(FATAL_ERROR "profile.steps is ${steps}, expected ${tokens} (the decode steps)")
endif()
string(JSON rows LENGTH "${json}" profile ops)
math(EXPR last "${rows} - 1")
set(collectives "")
foreach(i RANGE ${last})
  string(JSON op GET "${json}" profile ops ${i} op)
  if(op STREQUAL "Collective")
    string(JSON collectives GET "${json}" profile ops ${i} dispatches)
    string(JSON total GET "${json}" profile ops ${i} total_ms)
  endif()
endforeach()
math(EXPR want "2 * ${layers} * ${steps}")
if(NOT collectives STREQUAL want)
  message(FATAL_ERROR "profile has '${collectives}' Collective dispatches, expected ${want}")
endif()
if(NOT total GREATER 0)
  message(FATAL_ERROR "the collectives' total time is ${total} ms")
endif()
