# sluice_add_plugin(NAME <name> SOURCES <files...> [LIBS <targets...>])
#
# Called from plugins/<kind>/<name>/ (kind: providers, routing, guardrails,
# sinks). Builds plugins/<kind>/<name>.so beside the sluice binary (the loader
# finds built-in plugins there by kind and name: names are unique per kind)
# and a static twin that unit tests link so they need no dlopen. The targets
# are plugin_<kind>_<name> (the module), ..._obj and ..._static; the call sets
# SLUICE_PLUGIN_TARGET to the first in the caller's scope.
function(sluice_add_plugin)
  cmake_parse_arguments(P "" "NAME" "SOURCES;LIBS" ${ARGN})
  get_filename_component(kind_path ${CMAKE_CURRENT_SOURCE_DIR} DIRECTORY)
  get_filename_component(kind ${kind_path} NAME)
  set(target plugin_${kind}_${P_NAME})
  set(obj ${target}_obj)
  add_library(${obj} OBJECT ${P_SOURCES})
  target_link_libraries(${obj} PUBLIC sluice_sdk ${P_LIBS})
  target_compile_options(${obj} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  set_target_properties(${obj} PROPERTIES C_VISIBILITY_PRESET hidden CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)

  add_library(${target} MODULE $<TARGET_OBJECTS:${obj}>)
  target_link_libraries(${target} PRIVATE ${P_LIBS})
  set_target_properties(${target} PROPERTIES PREFIX "" OUTPUT_NAME ${P_NAME}
    LIBRARY_OUTPUT_DIRECTORY ${SLUICE_PLUGIN_DIR}/${kind})
  install(TARGETS ${target} LIBRARY DESTINATION lib/sluice/plugins/${kind})

  add_library(${target}_static STATIC $<TARGET_OBJECTS:${obj}>)
  target_link_libraries(${target}_static PUBLIC sluice_sdk ${P_LIBS})
  add_dependencies(sluice ${target})
  set(SLUICE_PLUGIN_TARGET ${target} PARENT_SCOPE)
endfunction()
